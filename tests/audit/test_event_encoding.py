"""AuditEvent.to_avro is a shallow record: the same bytes as the deep copy it replaced."""

from __future__ import annotations

import dataclasses
import random

import pytest

from broker.audit.events import EVENT_SCHEMA, AuditEvent
from broker.codec import SchemaStore
from broker.synthetic import example_codes


def _deep_copy_bytes(event: AuditEvent) -> bytes:
    """The encoding before the shallow record: ``dataclasses.asdict`` and the kind's value."""
    rec = dataclasses.asdict(event)
    rec["kind"] = event.kind.value
    return SchemaStore.default().encode(EVENT_SCHEMA, rec)


def _events() -> list[AuditEvent]:
    codes = example_codes(random.Random(7)).to_avro()  # a date and a nested record inside
    digest = bytes(range(32))
    return [
        AuditEvent.publish(
            actor="ES-PN",
            envelope_id="a" * 32,
            envelope_sha256=digest,
            recipients=["DE-BKA", "EUROPOL"],
            codes=codes,
            message_kind="DOSSIER",
        ),
        AuditEvent.open(
            actor="DE-BKA",
            envelope_id="b" * 32,
            envelope_sha256=digest,
            sender="ES-PN",
            codes=codes,
            message_kind="DOSSIER",
        ).at_position(stream="DE-BKA", seq=41, prev=digest),
        AuditEvent.receipt(
            actor="ES-PN",
            envelope_id="c" * 32,
            envelope_sha256=digest,
            recipient="DE-BKA",
            status="REJECTED",
            reason="replay",
            receipt_id="d" * 32,
        ),
        AuditEvent.reject(
            actor="DE-BKA",
            envelope_id=None,
            envelope_sha256=digest,
            parties=["DE-BKA"],
            reason="malformed",
            where="t.inbox.DE-BKA/0/7",
        ),
        AuditEvent.lost(actor="DE-BKA", reason="expired-unread", where="t/0/1-9"),
    ]


@pytest.mark.parametrize("event", _events(), ids=lambda e: e.kind.value)
def test_shallow_record_encodes_to_the_same_bytes_as_the_deep_copy(event: AuditEvent) -> None:
    assert event.to_bytes() == _deep_copy_bytes(event)
    assert AuditEvent.from_bytes(event.to_bytes()) == event


def test_shallow_record_leaves_the_event_unchanged() -> None:
    event = _events()[0]
    before = dataclasses.asdict(event)
    event.to_bytes()
    assert dataclasses.asdict(event) == before
