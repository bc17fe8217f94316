"""Dossier models: lossless Avro round trips, and every validation problem with its path."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.codec import MAGIC, SchemaStore
from broker.errors import ValidationError
from broker.models import (
    Codes,
    Dossier,
    MediaReference,
    normalize_selector,
    validate_dossier_json,
)
from broker.synthetic import example_dossier


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_dossier_round_trips_losslessly_through_avro_bytes(seed: int) -> None:
    dossier = example_dossier(seed)
    again = Dossier.from_bytes(dossier.to_bytes())
    assert again.model_dump() == dossier.model_dump()
    assert Dossier.model_validate_json(dossier.to_json()).model_dump() == dossier.model_dump()


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(example_dossier(5).to_json())
    doc.update(overrides)
    return doc


def _problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        validate_dossier_json(json.dumps(doc))
    return dict(info.value.problems)


def test_malformed_e164_number_is_reported_with_its_path() -> None:
    doc = _doc()
    doc["persons"][0]["selectors"][0]["value"] = "0034 600 000 000"
    problems = _problems(doc)
    assert "persons[0].selectors[0].value" in problems
    assert "E.164" in problems["persons[0].selectors[0].value"]


def test_birth_date_in_the_future_is_reported() -> None:
    doc = _doc()
    doc["persons"][0]["date_of_birth"] = "2999-01-01"
    assert "future" in _problems(doc)["persons[0].date_of_birth"]


def test_unknown_code_is_reported() -> None:
    doc = _doc()
    doc["codes"]["tlp"] = "PURPLE"
    assert "codes.tlp" in _problems(doc)


def test_missing_field_is_reported() -> None:
    doc = _doc()
    del doc["case_ref"]
    assert "case_ref" in _problems(doc)


def test_every_problem_is_reported_at_once() -> None:
    doc = _doc()
    doc["persons"][0]["selectors"][0]["value"] = "12345"
    doc["persons"][0]["date_of_birth"] = "2999-01-01"
    doc["media"][0]["sha256"] = "not-a-hash"
    doc["codes"]["handling"] = ["H9"]
    del doc["summary"]
    assert len(_problems(doc)) >= 5


def test_bad_perceptual_hash_length_is_reported() -> None:
    doc = _doc()
    doc["media"][0]["perceptual_hash"] = "ab" * 8
    doc["media"][0]["perceptual_algorithm"] = "PDQ"
    assert "media[0].perceptual_algorithm" in _problems(doc)


def test_oversized_attachment_is_reported() -> None:
    doc = _doc(attachments=[{"name": "a", "media_type": "text/plain", "content": "A" * 300_000}])
    assert any(p.startswith("attachments[0]") for p in _problems(doc))


def test_not_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        validate_dossier_json("{not json")


def test_h3_requires_its_restriction_text() -> None:
    base = json.loads(example_dossier(1).to_json())["codes"]
    with pytest.raises(ValueError, match="H3"):
        Codes.model_validate({**base, "handling": ["H3"], "h3_restrictions": None})
    ok = Codes.model_validate({**base, "handling": ["H0", "H3"], "h3_restrictions": "no export"})
    assert ok.handling == ["H0", "H3"]


@pytest.mark.parametrize(
    ("handling", "tlp", "consent"),
    [
        (["H0"], "AMBER", False),
        (["H2"], "GREEN", True),
        (["H0"], "RED", True),
        (["H0"], "AMBER+STRICT", True),
    ],
)
def test_originator_consent_rules(handling: list[str], tlp: str, consent: bool) -> None:
    base = json.loads(example_dossier(1).to_json())["codes"]
    codes = Codes.model_validate({**base, "handling": handling, "tlp": tlp})
    assert codes.originator_consent_required is consent


def test_selectors_normalize_to_one_form() -> None:
    assert normalize_selector("PHONE_E164", "+44 7700-900123") == "phone:+447700900123"
    assert normalize_selector("ONLINE_HANDLE", "@Synth_001", "ExampleForum") == (
        "online_handle:exampleforum:synth_001"
    )
    assert normalize_selector("DOCUMENT_NUMBER", "xx-test 000123") == "document:XXTEST000123"


def test_bad_md5_is_reported() -> None:
    doc = _doc()
    doc["media"][0]["md5"] = "AB" * 16
    assert "lower-case hex" in _problems(doc)["media[0].md5"]


def test_perceptual_quality_without_a_perceptual_hash_is_reported() -> None:
    doc = _doc()
    doc["media"][0].update(perceptual_hash=None, perceptual_algorithm=None, perceptual_quality=80)
    assert "media[0].perceptual_quality" in _problems(doc)


@pytest.mark.parametrize(("quality", "low"), [(0, True), (49, True), (50, False), (None, False)])
def test_pdq_below_quality_50_is_flagged_low_quality(quality: int | None, low: bool) -> None:
    media = MediaReference(
        sha256="0" * 64,
        perceptual_hash="f" * 64,
        perceptual_algorithm="PDQ",
        perceptual_quality=quality,
        category="UNCLASSIFIED",
    )
    assert media.perceptual_low_quality is low


def test_media_written_before_md5_and_quality_existed_reads_with_them_unset() -> None:
    """A dossier sealed with the previous published schema still opens (Avro defaults)."""
    store = SchemaStore.default()
    previous = next(
        (fp, schema)
        for fp, schema in store.writers_for("eu.fed.Dossier")
        if fp.hex() == "c0fc0c4c6f1ec196"
    )
    record = example_dossier(5).to_avro()
    for media in record["media"]:
        del media["md5"], media["perceptual_quality"]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, previous[1], record, strict=True)
    old_bytes = MAGIC + previous[0] + body.getvalue()
    dossier = Dossier.from_bytes(old_bytes)
    assert dossier.media and all(m.md5 is None for m in dossier.media)
    assert all(m.perceptual_quality is None for m in dossier.media)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("persons", 0, "nationalities", 0), "cl", "ISO 3166-1 alpha-2"),
        (("persons", 0, "documents", 0, "issuing_country"), "XXX", "ISO 3166-1 alpha-2"),
        (("locations", 0, "country"), "DE\n", "ISO 3166-1 alpha-2"),
        (("media", 0, "sha256"), "A" * 64, "sha256 must be 64 lower-case hex"),
        (("media", 0, "sha256"), "a" * 64 + "\n", "sha256 must be 64 lower-case hex"),
        (("media", 0, "md5"), "0" * 31, "md5 must be 32 lower-case hex"),
    ],
)
def test_pattern_fields_checked_natively_keep_their_check_and_message(
    where: tuple[str | int, ...], value: str, message: str
) -> None:
    doc = _doc()
    target: Any = doc
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    assert message in _problems(doc)[path]
