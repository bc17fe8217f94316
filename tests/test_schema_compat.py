"""Schema evolution: old data stays readable; an incompatible change fails this suite."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from fastavro.schema import parse_schema
from fastavro.utils import generate_many

from broker.codec import SchemaStore, schemas_dir
from broker.models import Dossier
from broker.schema_history import TOP_LEVEL, published_versions

FIXTURE = Path(__file__).parent / "fixtures" / "dossier-v1.bin"


def test_dossier_written_with_the_first_version_reads_with_the_current_one() -> None:
    dossier = Dossier.from_bytes(FIXTURE.read_bytes())
    assert dossier.case_ref == "CASE-SYNTH-00003"
    assert dossier.persons and dossier.media


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_current_schema_is_published(name: str) -> None:
    store = SchemaStore.default()
    versions = {p.stem for p in published_versions(schemas_dir(), name)}
    assert store.fingerprint(name).hex() in versions, (
        f"{name} changed: run `broker schema publish` and commit schemas/published/"
    )


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_every_published_version_is_readable_by_the_current_schema(name: str) -> None:
    store = SchemaStore.default()
    reader = store.schema(name)
    for path in published_versions(schemas_dir(), name):
        writer = parse_schema(json.loads(path.read_text()), named_schemas={})
        for record in generate_many(writer, 25):
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, writer, record)
            buf.seek(0)
            fastavro.schemaless_reader(buf, writer, reader)  # raises on incompatibility


def test_removing_a_field_default_is_detected_as_incompatible() -> None:
    """The check above must be able to fail: simulate a breaking change."""
    store = SchemaStore.default()
    old = store.schema("eu.fed.Receipt")
    broken = json.loads(json.dumps(old))
    broken["fields"].append({"name": "new_required", "type": "string"})  # no default
    reader = parse_schema(broken, named_schemas={})
    buf = io.BytesIO()
    record = next(iter(generate_many(old, 1)))
    fastavro.schemaless_writer(buf, old, record)
    buf.seek(0)
    with pytest.raises(fastavro.read.SchemaResolutionError):
        fastavro.schemaless_reader(buf, old, reader)
