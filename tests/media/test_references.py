"""The JSON Lines output: record fields plus local keys, atomic file, read back as models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.media.hashing import FileHash, Outcome
from broker.media.references import (
    LOCAL_KEYS,
    UNCLASSIFIED,
    ReferenceWriter,
    json_line,
    media_reference,
    read_references,
)
from broker.models import MediaReference

IMAGE = FileHash(
    path="DCIM/IMG_1.jpg",
    outcome=Outcome.IMAGE,
    size=1234,
    sha256="a" * 64,
    md5="b" * 32,
    pdq="c" * 64,
    pdq_quality=40,
)
TEXT = FileHash(path="notes.txt", outcome=Outcome.NOT_IMAGE, size=5, sha256="d" * 64, md5="e" * 32)


def test_line_is_the_avro_record_plus_local_keys() -> None:
    line = json.loads(json_line(IMAGE, media_reference(IMAGE, device_ref="D1")))
    assert set(line) == set(MediaReference.model_fields) | set(LOCAL_KEYS)
    assert line["path"] == "DCIM/IMG_1.jpg" and line["size"] == 1234
    assert line["perceptual_algorithm"] == "PDQ" and line["perceptual_quality"] == 40
    assert line["perceptual_low_quality"] is True  # quality 40 < 50: kept, flagged
    assert line["category"] == UNCLASSIFIED and line["device_ref"] == "D1"


def test_non_image_has_no_perceptual_fields() -> None:
    line = json.loads(json_line(TEXT, media_reference(TEXT, device_ref=None)))
    assert line["perceptual_hash"] is None and line["perceptual_quality"] is None
    assert line["perceptual_low_quality"] is False and line["md5"] == "e" * 32


def test_unreadable_file_has_no_reference() -> None:
    with pytest.raises(ValueError, match="not hashed"):
        media_reference(FileHash(path="x", outcome=Outcome.UNREADABLE), device_ref=None)


def test_written_file_reads_back_as_media_references(tmp_path: Path) -> None:
    out = tmp_path / "refs.jsonl"
    with ReferenceWriter(path=out) as writer:
        for f in (IMAGE, TEXT):
            writer.write(f, media_reference(f, device_ref="D1"))
    refs = list(read_references(out))
    assert [r.sha256 for r in refs] == ["a" * 64, "d" * 64]
    assert refs[0].perceptual_low_quality and not refs[1].perceptual_low_quality


def test_failed_run_leaves_no_output_and_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "refs.jsonl"
    with pytest.raises(RuntimeError), ReferenceWriter(path=out) as writer:
        writer.write(IMAGE, media_reference(IMAGE, device_ref=None))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
