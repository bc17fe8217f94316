"""Dead letters name the envelope id whenever the rejected record's header decodes."""

from __future__ import annotations

import datetime as dt

import pytest

from broker.codec import SchemaStore
from broker.deadletter import DeadLetter
from broker.envelope import seal
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA
from broker.trust.testing import UnsafeTestFederation


def _letter(original: bytes) -> DeadLetter:
    return DeadLetter.for_record(
        original=original,
        key=None,
        topic="fed.outbox.ES-PN",
        partition=0,
        offset=1,
        stage="ROUTER",
        rejected_by="router",
        reason="bad-signature",
    )


@pytest.fixture(scope="module")
def sealed() -> bytes:
    fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    payload = SchemaStore.default().encode(
        "eu.fed.Evaluation", {"source": "C", "information": "I3"}
    )
    return seal(
        payload,
        kind="DOSSIER",
        codes={
            "handling": ["H0"],
            "h3_restrictions": None,
            "tlp": "GREEN",
            "pap": "GREEN",
            "classification": "RESTRICTED",
            "evaluation": {"source": "B", "information": "I2"},
            "legal_basis": "synthetic test",
            "purpose": "synthetic test",
            "retention_review": dt.date(2030, 1, 1),
        },
        sender=fed.identity("ES-PN"),
        recipients=["DE-BKA"],
        trust=fed.trust,
        sequence=1,
    )


def test_dead_letter_of_a_forged_envelope_names_the_envelope_id_its_header_claims(
    sealed: bytes,
) -> None:
    store = SchemaStore.default()
    forged = store.decode(ENVELOPE_SCHEMA, sealed)
    forged["signature"] = {"ed25519": bytes(64), "ml_dsa_65": None}
    claimed = store.decode(HEADER_SCHEMA, forged["header"])["envelope_id"]
    letter = DeadLetter.from_bytes(_letter(store.encode(ENVELOPE_SCHEMA, forged)).to_bytes())
    assert letter.envelope_id == claimed


@pytest.mark.parametrize("junk", [b"", b"\x00garbage", b"\xc3\x01" + bytes(8)])
def test_dead_letter_of_undecodable_bytes_names_no_envelope(junk: bytes) -> None:
    assert _letter(junk).envelope_id is None


def test_dead_letter_keeps_an_envelope_id_given_by_the_rejecting_node(sealed: bytes) -> None:
    letter = DeadLetter.for_record(
        original=sealed,
        key=None,
        topic="t",
        partition=0,
        offset=0,
        stage="CONSUMER",
        rejected_by="DE-BKA",
        reason="replayed",
        envelope_id="0" * 32,
    )
    assert letter.envelope_id == "0" * 32
