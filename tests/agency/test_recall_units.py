"""Recall, restriction and retention without Kafka: widening is refused, the compliance table marks
what is overdue, and the audit rule reports a recall with no DESTROYED past its deadline."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, cast

import pytest

from broker.agency.batch import Settlement
from broker.agency.control import compliance_table
from broker.agency.ledger import ComplianceLedger, ComplianceRow, OrderRow
from broker.agency.reassembly import Reassembly
from broker.agency.recall import ControlDesk
from broker.agency.restrict import is_tightening, tightened
from broker.agency.store import AgencyStore
from broker.audit.compliance import RecallRule
from broker.audit.events import AuditKind
from broker.audit.findings import RawRecord
from broker.audit.rules import RuleBook
from broker.audit.writer import AuditSink
from broker.errors import WideningError
from broker.models.codes import codes_to_json
from broker.synthetic import example_dossier

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _codes(**over: Any) -> dict[str, Any]:
    return {**example_dossier(1).codes.to_avro(), **over}


def test_lowering_tlp_in_a_restriction_is_refused_as_widening() -> None:
    old = _codes(handling=["H0", "H2"], tlp="RED")
    with pytest.raises(WideningError) as caught:
        tightened(old, tlp="GREEN")
    assert caught.value.reason == "restriction-widens"
    assert "tlp lowered" in (caught.value.detail or "")


def test_dropping_h2_or_postponing_review_is_widening() -> None:
    old = _codes(handling=["H0", "H2"], tlp="RED")
    assert not is_tightening(old, {**old, "handling": ["H0"]})
    later = old["retention_review"] + dt.timedelta(days=1)
    assert not is_tightening(old, {**old, "retention_review": later})


def test_adding_h2_and_raising_tlp_is_a_tightening() -> None:
    old = _codes(handling=["H0"], tlp="GREEN", pap="GREEN")
    new = tightened(old, handling=["H2"], tlp="AMBER+STRICT", pap="RED")
    assert new["handling"] == ["H0", "H2"] and new["tlp"] == "AMBER_STRICT"
    assert is_tightening(old, new)


def test_compliance_table_shows_answered_pending_and_overdue(tmp_path: Path) -> None:
    ledger = ComplianceLedger.open(tmp_path / "state.db")
    deadline = T0 + dt.timedelta(hours=24)
    ledger.add_order(
        OrderRow(
            order_id="o1",
            action="RECALL",
            envelope_id="e" * 32,
            holders=["DE-BKA", "EUROPOL"],
            reason="test",
            issued_at=T0.timestamp(),
            deadline=deadline.timestamp(),
        ),
        codes=None,
    )
    row = ComplianceRow(
        order_id="o1",
        holder="DE-BKA",
        status="DESTROYED",
        ground=None,
        held=True,
        erased=1,
        at=T0.timestamp(),
        receipt_id="r1",
    )
    assert ledger.record_compliance(row)
    assert not ledger.record_compliance(row)  # the first answer wins
    before = {ln.holder: ln.status for ln in compliance_table(ledger, now=T0)}
    after = {
        ln.holder: ln.status for ln in compliance_table(ledger, now=deadline + dt.timedelta(1))
    }
    ledger.close()
    assert before == {"DE-BKA": "DESTROYED", "EUROPOL": "PENDING"}
    assert after == {"DE-BKA": "DESTROYED", "EUROPOL": "OVERDUE"}


def _event(kind: str, stream: str, parties: list[str], outcome: str, seq: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "stream": stream,
        "seq": seq,
        "parties": parties,
        "ref": "o1",
        "envelope_id": "e1",
        "outcome": outcome,
        "reason": "legal-hold" if outcome == "refused" else None,
        "envelope_sha256": None,
        "at": T0,
    }


def _book(*answers: dict[str, Any]) -> RuleBook:
    book = RuleBook()
    where = RawRecord(partition=0, offset=1, key=None, value=b"")
    order = _event(
        "CONTROL_ORDER",
        "ES-PN",
        ["ES-PN", "DE-BKA", "EUROPOL"],
        "recall due 2026-12-02T12:00:00Z",
        0,
    )
    for rec in (order, *answers):
        book.add(rec, where)
    return book


def test_recall_without_destroyed_from_a_holder_past_deadline_is_reported() -> None:
    # DE-BKA attests destruction; EUROPOL refuses; the owner's own copy proves nothing.
    book = _book(
        _event("COMPLIANCE", "DE-BKA", ["ES-PN", "DE-BKA"], "destroyed", 0),
        _event("COMPLIANCE", "EUROPOL", ["ES-PN", "EUROPOL"], "refused", 0),
        _event("COMPLIANCE", "ES-PN", ["ES-PN", "EUROPOL"], "destroyed", 1),
    )
    late = T0 + dt.timedelta(days=2)
    details = [d for _, _, d in book.violations(newest=late)]
    assert details == [
        "recall o1 of e1 by ES-PN: no DESTROYED from EUROPOL by its deadline "
        "2026-12-02T12:00:00Z (refused: legal-hold)"
    ]
    assert [d for _, _, d in book.violations(newest=T0 + dt.timedelta(hours=1))] == []


def test_a_holders_unanchored_destroyed_does_not_satisfy_the_recall() -> None:
    rule = RecallRule()
    rule.add(
        _event("CONTROL_ORDER", "ES-PN", ["ES-PN", "DE-BKA"], "recall due 2026-12-02T12:00:00Z", 0),
        pos="0:1",
        seq=0,
        at=T0,
    )
    rule.add(
        _event("COMPLIANCE", "DE-BKA", ["ES-PN", "DE-BKA"], "destroyed", 5), pos="0:2", seq=5, at=T0
    )
    anchored = {"ES-PN": 1, "DE-BKA": 3}  # DE-BKA's event at seq 5 is past its checkpoint
    found = rule.violations(lambda s, q: q < anchored.get(s, 0), T0 + dt.timedelta(days=2))
    assert [holder for holder, _, _ in found] == ["DE-BKA"]


def test_dossier_past_its_review_is_erased_unless_the_owner_extended_it(tmp_path: Path) -> None:
    store = AgencyStore.open(tmp_path / "state.db")
    desk = ControlDesk(
        agency="DE-BKA",
        ledger=ComplianceLedger.open(store.path),
        publisher=cast(Any, None),  # a sweep sends nothing
        audit=AuditSink(None),
    )
    desk.review_period = dt.timedelta(minutes=2)
    desk.erasers.append(store.vault.destroy if store.vault else (lambda _o, _e: 0))
    for envelope_id in ("a" * 32, "b" * 32):
        store.accept(
            envelope_id=envelope_id,
            sender="ES-PN",
            sequence=1 if envelope_id[0] == "a" else 2,
            expires_at=4e9,
            kind="DOSSIER",
            provenance={"codes": codes_to_json(_codes(retention_review=dt.date(2099, 1, 1)))},
            payload=b"fictitious",
        )
    now = time.time()
    assert desk.sweep_retention(now=now + 60) == []
    work = Settlement()
    assert desk._extend("ES-PN", "b" * 32, "o-extend", work, now=now + 100)  # the owner reviewed b
    events = desk.sweep_retention(now=now + 200)
    assert [(e.kind, e.outcome, e.envelope_id) for e in events] == [
        (AuditKind.RETENTION, "expired", "a" * 32)
    ]
    assert [i.envelope_id for i in store.inbox()] == ["b" * 32]
    assert desk.ledger.is_recalled("ES-PN", "a" * 32)  # a Kafka copy is refused from now on
    assert [e.outcome for e in work.audit] == ["extended"]
    assert len(desk.sweep_retention(now=now + 10_000)) == 1  # the extension runs out too
    desk.ledger.close()
    store.close()


def test_recall_erases_a_streamed_dossiers_parts_and_refuses_them_again(tmp_path: Path) -> None:
    streams = Reassembly(path=tmp_path / "state-streams.db", agency="DE-BKA")
    with streams._transaction() as db:  # what take_part leaves: a stream and two parts
        db.execute("INSERT INTO streams VALUES ('ES-PN', 'e1', '[\"DE-BKA\"]', 0, 0, 'open', '')")
        for idx in (0, 1):
            db.execute("INSERT INTO parts VALUES ('ES-PN', 'e1', ?, x'00', '')", (idx,))
    assert streams.erase("ES-PN", "e1") == 2
    assert streams._db.execute("SELECT count(*) FROM parts").fetchone() == (0,)
    state = streams._db.execute("SELECT state FROM streams").fetchone()[0]
    streams.close()
    assert state == "erased"  # a replayed part is then refused: "already erased"


def test_a_widening_restriction_that_reaches_a_holder_is_refused_with_its_ground(
    tmp_path: Path,
) -> None:
    # An owner's client that skipped its own check: the holder refuses, and says why.
    store = AgencyStore.open(tmp_path / "state.db")
    desk = ControlDesk(
        agency="DE-BKA",
        ledger=ComplianceLedger.open(store.path),
        publisher=cast(Any, None),
        audit=AuditSink(None),
    )
    held = _codes(handling=["H0", "H2"], tlp="RED")
    store.accept(
        envelope_id="c" * 32,
        sender="ES-PN",
        sequence=1,
        expires_at=4e9,
        kind="DOSSIER",
        provenance={"codes": codes_to_json(held)},
        payload=b"fictitious",
    )
    wider = {"order_id": "o-wide", "codes": {**held, "tlp": "GREEN"}}
    assert desk._restrict("ES-PN", "c" * 32, wider) == (True, "REFUSED", "restriction-widens")
    tighter = {"order_id": "o-tight", "codes": {**held, "pap": "RED"}}
    assert desk._restrict("ES-PN", "c" * 32, tighter) == (True, "APPLIED", None)
    assert desk.ledger.restricted_codes("ES-PN", "c" * 32) is not None
    desk.ledger.close()
    store.close()
