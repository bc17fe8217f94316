"""A fetched batch accepted in one transaction: replays, sequence gaps, pending handlers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from broker.agency.acceptance import Acceptance, ReceiptRow
from broker.agency.batch import resume_text, resumed
from broker.agency.store import AgencyStore
from broker.envelope import Verifier, seal
from broker.synthetic import example_dossier
from broker.trust.testing import UnsafeTestFederation


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AgencyStore]:
    s = AgencyStore.open(tmp_path / "state.db")
    yield s
    s.close()


def _item(env: str, seq: int, *, sender: str = "ES-PN", pending: bool = True) -> Acceptance:
    return Acceptance(
        envelope_id=env,
        sender=sender,
        sequence=seq,
        expires_at=2e9,
        kind="DOSSIER",
        provenance={"sender": sender},
        payload=b"p-" + env.encode(),
        resume="{}" if pending else None,
    )


def test_batch_replayed_against_the_seen_set_and_within_itself_is_refused(
    store: AgencyStore,
) -> None:
    assert store.accept_many([_item("e1", 1)]) == [0]
    gaps = store.accept_many([_item("e1", 1), _item("e2", 2), _item("e2", 2), _item("e3", 3)])
    assert gaps == [None, 0, None, 0]
    assert [i.envelope_id for i in store.inbox()] == ["e1", "e2", "e3"]
    assert store.seen_among([("ES-PN", "e2"), ("ES-PN", "e9"), ("IT-PS", "e1")]) == {
        ("ES-PN", "e2")
    }


def test_batch_records_sequence_gaps_per_sender_like_single_accepts(store: AgencyStore) -> None:
    gaps = store.accept_many(
        [_item("a", 1), _item("b", 4), _item("c", 2), _item("x", 7, sender="IT-PS")]
    )
    assert gaps == [0, 2, 0, 0]
    rows = dict(
        (r[0], (r[1], r[2]))
        for r in store._db.execute("SELECT sender, highest, gaps FROM sender_sequence")
    )
    assert rows == {"ES-PN": (4, 2), "IT-PS": (7, 0)}
    assert store.accept_many([_item("d", 6)]) == [1]


def test_co_sender_reusing_an_envelope_id_is_not_a_replay_in_a_batch(store: AgencyStore) -> None:
    gaps = store.accept_many([_item("e1", 1), _item("e1", 1, sender="IT-PS")])
    assert gaps == [0, 0]


def test_pending_marks_survive_until_handled(store: AgencyStore) -> None:
    store.accept_many([_item("e1", 1), _item("e2", 2), _item("r", 3, pending=False)])
    assert [p.envelope_id for p in store.pending()] == ["e1", "e2"]
    store.handled([("ES-PN", "e1")])
    assert [p.envelope_id for p in store.pending()] == ["e2"]
    assert store.pending()[0].payload == b"p-e2"


def test_handler_refused_delivery_leaves_the_inbox_but_stays_seen(store: AgencyStore) -> None:
    store.accept_many([_item("e1", 1), _item("e2", 2)])
    store.handled([("ES-PN", "e1")], failed=[("ES-PN", "e2")])
    assert store.pending() == []
    assert [i.envelope_id for i in store.inbox()] == ["e1"]
    assert store.accept_many([_item("e2", 2)]) == [None]  # a re-sent copy is a replay


def test_receipt_in_a_batch_is_recorded_once_and_not_when_replayed(store: AgencyStore) -> None:
    row = ReceiptRow(envelope_id="mine", recipient="DE-BKA", status="DELIVERED", reason=None)
    receipt = Acceptance(
        envelope_id="rcpt",
        sender="DE-BKA",
        sequence=1,
        expires_at=2e9,
        kind="RECEIPT",
        provenance={},
        payload=None,
        receipt=row,
    )
    assert store.accept_many([receipt]) == [0]
    again = Acceptance(
        **{
            **receipt.__dict__,
            "receipt": ReceiptRow(**{**row.__dict__, "status": "REJECTED", "reason": "x"}),
        }
    )
    assert store.accept_many([again]) == [None]
    status = store._db.execute("SELECT status FROM receipts WHERE envelope_id = 'mine'").fetchall()
    assert status == [("DELIVERED",)]
    assert store.inbox() == [] and store.pending() == []


def test_failed_batch_transaction_marks_nothing(store: AgencyStore) -> None:
    bad = Acceptance(**{**_item("e2", 2).__dict__, "resume": None, "payload": None})
    store.accept_many([_item("e0", 1)])
    store._db.execute("DROP TABLE pending_handler")
    with pytest.raises(sqlite3.OperationalError):
        store.accept_many([bad, _item("e3", 3)])
    assert store.seen_among([("ES-PN", "e2"), ("ES-PN", "e3")]) == set()


def test_pending_delivery_rebuilds_the_opened_envelope_from_the_store(store: AgencyStore) -> None:
    fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA", "EUROPOL"])
    dossier = example_dossier(3)
    data = seal(
        dossier.to_bytes(),
        kind="DOSSIER",
        codes=dossier.codes.to_avro(),
        sender=fed.identity("ES-PN"),
        recipients=["DE-BKA", "EUROPOL"],
        trust=fed.trust,
        sequence=9,
    )
    opened = Verifier(trust=fed.trust).open(data, identity=fed.identity("DE-BKA"))
    record = SimpleNamespace(topic="t.inbox.DE-BKA", partition=1, offset=42, key=b"k")
    h = opened.header
    store.accept_many(
        [
            Acceptance(
                envelope_id=h.envelope_id,
                sender=h.sender,
                sequence=h.sequence,
                expires_at=h.expires_at.timestamp(),
                kind=h.kind,
                provenance=opened.provenance(),
                payload=opened.payload,
                resume=resume_text(opened, sha256=b"\x01" * 32, record=record),
            )
        ]
    )
    (row,) = store.pending()
    again, sha256, position = resumed(row)
    assert again == opened
    assert sha256 == b"\x01" * 32
    assert (position.topic, position.partition, position.offset, position.key) == (
        "t.inbox.DE-BKA",
        1,
        42,
        b"k",
    )
