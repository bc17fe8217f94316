"""Audit rule 5 on synthetic events: a recall binds the agencies the hub relayed it to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker.audit.findings import RawRecord
from broker.audit.rules import RuleBook

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
LATE = T0 + dt.timedelta(days=2)


def _event(kind: str, stream: str, parties: list[str], outcome: str, seq: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "stream": stream,
        "seq": seq,
        "parties": parties,
        "ref": "o1",
        "envelope_id": "e1",
        "outcome": outcome,
        "reason": None,
        "envelope_sha256": None,
        "at": T0,
    }


def _book(*events: dict[str, Any]) -> RuleBook:
    book = RuleBook()
    where = RawRecord(partition=0, offset=1, key=None, value=b"")
    order = _event(
        "CONTROL_ORDER", "ES-PN", ["ES-PN", "EUROPOL"], "recall due 2026-12-02T12:00:00Z", 0
    )
    hub = _event("COMPLIANCE", "EUROPOL", ["ES-PN", "EUROPOL"], "destroyed", 0)
    for rec in (order, hub, *events):
        book.add(rec, where)
    return book


def _holders(book: RuleBook, *, anchored: dict[str, int] | None = None) -> list[str]:
    return [holder for holder, _, _ in book.violations(anchored=anchored, newest=LATE)]


def test_relayed_agency_silent_past_the_deadline_is_reported() -> None:
    book = _book(_event("CONTROL_RELAY", "EUROPOL", ["ES-PN", "DE-BKA"], "relayed", 1))
    (detail,) = [d for _, _, d in book.violations(newest=LATE)]
    assert detail == (
        "recall o1 of e1 by ES-PN: no DESTROYED from DE-BKA (relayed by EUROPOL) "
        "by its deadline 2026-12-02T12:00:00Z"
    )
    assert [d for _, _, d in book.violations(newest=T0 + dt.timedelta(hours=1))] == []


def test_relayed_agency_destroyed_in_its_own_stream_satisfies_the_recall() -> None:
    book = _book(
        _event("CONTROL_RELAY", "EUROPOL", ["ES-PN", "DE-BKA"], "relayed", 1),
        _event("COMPLIANCE", "DE-BKA", ["ES-PN", "DE-BKA"], "destroyed", 0),
    )
    assert _holders(book) == []


def test_restricted_relayed_agency_needs_its_own_destroyed_not_the_hubs_copy() -> None:
    relay = _event("CONTROL_RELAY", "EUROPOL", ["ES-PN", "NL-POL"], "relayed-restricted", 1)
    hubs_copy = _event("COMPLIANCE", "EUROPOL", ["ES-PN", "NL-POL"], "destroyed", 2)
    book = _book(relay, hubs_copy)
    (detail,) = [d for _, _, d in book.violations(newest=LATE)]
    assert "NL-POL (relayed by EUROPOL, answers EUROPOL)" in detail
    own = _event("COMPLIANCE", "NL-POL", ["ES-PN", "NL-POL"], "destroyed", 0)
    assert _holders(_book(relay, hubs_copy, own)) == []


def test_relay_claimed_by_an_agency_the_order_does_not_name_adds_no_holder() -> None:
    # Anyone may write its own stream: only a holder of the owner's order relays it.
    book = _book(_event("CONTROL_RELAY", "FR-PN", ["ES-PN", "DE-BKA"], "relayed", 0))
    assert _holders(book) == []


def test_relay_claimed_by_a_direct_recipient_not_the_hub_adds_no_holder() -> None:
    # Attack: IT-PS, named by the order, writes a relay naming DE-BKA to make it look overdue.
    book = RuleBook()
    where = RawRecord(partition=0, offset=1, key=None, value=b"")
    for rec in (
        _event("CONTROL_ORDER", "ES-PN", ["ES-PN", "IT-PS"], "recall due 2026-12-02T12:00:00Z", 0),
        _event("COMPLIANCE", "IT-PS", ["ES-PN", "IT-PS"], "destroyed", 0),
        _event("CONTROL_RELAY", "IT-PS", ["ES-PN", "DE-BKA"], "relayed", 1),
    ):
        book.add(rec, where)
    assert _holders(book) == []


def test_unanchored_relay_event_adds_no_holder() -> None:
    book = _book(_event("CONTROL_RELAY", "EUROPOL", ["ES-PN", "DE-BKA"], "relayed", 5))
    assert _holders(book, anchored={"ES-PN": 1, "EUROPOL": 2}) == []
    assert _holders(book, anchored={"ES-PN": 1, "EUROPOL": 6}) == ["DE-BKA"]
