"""`broker media hash` from the command line."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app, main
from broker.errors import MediaSourceError

runner = CliRunner()


def test_hash_writes_one_reference_per_file_and_a_summary(seized: Path, tmp_path: Path) -> None:
    out = tmp_path / "refs.jsonl"
    result = runner.invoke(
        app,
        ["media", "hash", str(seized), "--device-ref", "D1", "-o", str(out), "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["path"] for x in lines] == [
        "broken.jpg",
        "flat.png",
        "notes.txt",
        "DCIM/IMG_0.jpg",
        "DCIM/IMG_1.jpg",
        "DCIM/IMG_2.jpg",
    ]
    for line in lines:
        data = (seized / line["path"]).read_bytes()
        assert line["sha256"] == hashlib.sha256(data).hexdigest()
        assert line["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert line["device_ref"] == "D1"
    assert sum(x["perceptual_low_quality"] for x in lines) == 1
    assert "hashed 6 files" in result.stderr and "4 images with PDQ" in result.stderr
    assert "1 of low quality" in result.stderr and "broken-image: broken.jpg" in result.stderr


def test_hash_to_stdout(seized: Path) -> None:
    result = runner.invoke(app, ["media", "hash", str(seized), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 6 and "hashed 6 files" not in result.stdout


def test_output_inside_the_seized_folder_is_refused(seized: Path) -> None:
    result = runner.invoke(app, ["media", "hash", str(seized), "-o", str(seized / "x.jsonl")])
    assert result.exit_code != 0 and not (seized / "x.jsonl").exists()


def test_missing_folder_exits_2_through_the_error_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = runner.invoke(app, ["media", "hash", str(tmp_path / "nope")])
    assert isinstance(result.exception, MediaSourceError)
    monkeypatch.setattr(sys, "argv", ["broker", "media", "hash", str(tmp_path / "nope")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_option_has_help() -> None:
    result = runner.invoke(app, ["media", "hash", "--help"], env={"COLUMNS": "200"})
    for option in ("--device-ref", "--output", "--workers", "--pdq-downscale", "--progress"):
        assert option in result.output
    assert "every core" in result.output
