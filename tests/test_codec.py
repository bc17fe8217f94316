"""The Avro codec: published CRC-64-AVRO vectors, single-object framing, strict decoding."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from broker.codec import MAGIC, SchemaStore
from broker.errors import SchemaError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "avro" / "crc64.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["canonical"][:30])
def test_fingerprint_matches_the_avro_specification(case: dict[str, Any]) -> None:
    parsed = parse_schema(json.loads(case["input"]), _write_hint=False)
    assert to_parsing_canonical_form(parsed) == case["canonical"]
    expected = struct.pack("<q", case["fingerprint"])  # Java's long, little-endian on the wire
    assert SchemaStore._compute_fingerprint(parsed) == expected


def test_single_object_encoding_carries_the_writer_fingerprint() -> None:
    store = SchemaStore.default()
    data = store.encode("eu.fed.Evaluation", {"source": "X", "information": "I4"})
    assert data[:2] == MAGIC
    assert data[2:10] == store.fingerprint("eu.fed.Evaluation")


@pytest.mark.parametrize(
    "bad",
    [b"", b"\xc3", b"\xc3\x02" + bytes(8), b"\xc3\x01" + bytes(8), b"{}"],
    ids=["empty", "short", "wrong-magic", "unknown-fingerprint", "json"],
)
def test_malformed_single_object_bytes_are_a_schema_error(bad: bytes) -> None:
    with pytest.raises(SchemaError):
        SchemaStore.default().decode("eu.fed.Evaluation", bad)


def test_trailing_bytes_are_refused() -> None:
    store = SchemaStore.default()
    data = store.encode("eu.fed.Evaluation", {"source": "X", "information": "I4"})
    with pytest.raises(SchemaError, match="trailing"):
        store.decode("eu.fed.Evaluation", data + b"\x00")


def test_encoding_a_wrong_record_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        SchemaStore.default().encode("eu.fed.Evaluation", {"source": "Z", "information": "I4"})


LOGICAL = json.loads(
    (Path(__file__).parent / "vectors" / "avro" / "logical_types.json").read_text()
)


@pytest.mark.parametrize("case", LOGICAL["cases"], ids=lambda c: c["name"][:30])
def test_fingerprint_of_a_schema_with_logical_types_is_the_java_reference(
    case: dict[str, Any],
) -> None:
    # Java's SchemaNormalization drops logicalType entirely ("long", not {"type":"long"});
    # a library that keeps the object (Python avro 1.12) gets another fingerprint, which
    # no reader of our records knows.
    parsed = parse_schema(json.loads(case["input"]), _write_hint=False)
    assert to_parsing_canonical_form(parsed) == case["canonical"]
    wire = SchemaStore._compute_fingerprint(parsed)
    assert wire == struct.pack("<q", case["fingerprint"])
    assert wire.hex() == case["wire"]
    assert bytes.fromhex(fingerprint(case["wrong_canonical"], "CRC-64-AVRO")).hex() != case["wire"]


def test_the_project_fingerprint_of_a_logical_type_schema_is_the_java_reference() -> None:
    (case,) = [c for c in LOGICAL["cases"] if c["name"].startswith("eu.fed.AuditCheckpoint")]
    assert SchemaStore.default().fingerprint("eu.fed.AuditCheckpoint").hex() == case["wire"]
