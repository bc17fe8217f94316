"""The audit rules identify an envelope by (sender, envelope id) (red-team finding F8)."""

from __future__ import annotations

from typing import Any

from broker.audit.findings import RawRecord
from broker.audit.rules import RuleBook
from broker.topics import ROUTER


def _event(kind: str, stream: str, parties: list[str], sha: bytes) -> dict[str, Any]:
    return {
        "kind": kind,
        "stream": stream,
        "envelope_id": "e1",
        "envelope_sha256": sha,
        "parties": parties,
        "at": None,
        "reason": None,
        "ref": None,
        "outcome": None,
    }


def test_co_recipient_reusing_an_envelope_id_neither_masks_nor_fakes_a_finding() -> None:
    book = RuleBook()
    where = RawRecord(partition=0, offset=0, key=None, value=b"")
    # ES-PN's genuine envelope e1, then IT-PS's own envelope re-using the id e1.
    for sender, sha in (("ES-PN", b"genuine"), ("IT-PS", b"copycat")):
        book.add(_event("PUBLISH", sender, [sender, "DE-BKA"], sha), where)
        book.add(_event("DELIVER", ROUTER, [sender, "DE-BKA"], sha), where)
        book.add(_event("OPEN", "DE-BKA", [sender, "DE-BKA"], sha), where)
    assert book.violations() == []

    # A delivery of other bytes under ES-PN's id is still found.
    book.add(_event("DELIVER", ROUTER, ["ES-PN", "DE-BKA"], b"forged"), where)
    # (DE-BKA opened the genuine bytes, which were delivered: only the forgery is a finding.)
    assert sorted(detail for _, _, detail in book.violations()) == [
        "e1 delivered with other bytes",
    ]
