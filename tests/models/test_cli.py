"""`broker dossier` from the command line: validate, example, seal and open for both suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app

runner = CliRunner()


def test_example_is_valid_and_deterministic(tmp_path: Path) -> None:
    first = runner.invoke(app, ["dossier", "example", "--seed", "9"])
    second = runner.invoke(app, ["dossier", "example", "--seed", "9"])
    assert first.exit_code == 0 and first.output == second.output
    path = tmp_path / "d.json"
    path.write_text(first.output)
    result = runner.invoke(app, ["dossier", "validate", str(path)])
    assert result.exit_code == 0 and "OK" in result.output


def test_validate_lists_every_problem_and_exits_nonzero(tmp_path: Path) -> None:
    doc = json.loads(runner.invoke(app, ["dossier", "example"]).output)
    doc["persons"][0]["selectors"][0]["value"] = "+0"
    del doc["summary"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["dossier", "validate", str(path)])
    assert result.exit_code == 1
    assert "persons[0].selectors[0].value" in result.output
    assert "summary" in result.output


@pytest.mark.parametrize("suite", ["classic", "pq-hybrid"])
def test_federation_init_then_seal_and_open_from_the_cli(tmp_path: Path, suite: str) -> None:
    home = ["--home", str(tmp_path)]
    assert (
        runner.invoke(
            app, ["federation", "init", "--agencies", "ES-PN,DE-BKA,IT-PS", *home]
        ).exit_code
        == 0
    )
    dossier = tmp_path / "d.json"
    dossier.write_text(runner.invoke(app, ["dossier", "example", "--seed", "2"]).output)
    env = tmp_path / "e.bin"
    sealed = runner.invoke(
        app,
        [
            "dossier",
            "seal",
            str(dossier),
            "--as",
            "ES-PN",
            "--to",
            "DE-BKA",
            "--suite",
            suite,
            "-o",
            str(env),
            *home,
        ],
    )
    assert sealed.exit_code == 0, sealed.output
    opened = runner.invoke(app, ["dossier", "open", str(env), "--as", "DE-BKA", "--json", *home])
    assert opened.exit_code == 0, opened.output
    out = json.loads(opened.output)
    assert out["provenance"]["sender"] == "ES-PN" and out["provenance"]["suite"] == suite
    assert out["dossier"]["case_ref"] == "CASE-SYNTH-00002"
    # IT-PS is not a recipient: refused.
    refused = runner.invoke(app, ["dossier", "open", str(env), "--as", "IT-PS", *home])
    assert refused.exit_code != 0
