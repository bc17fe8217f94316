"""The agency state store: replay refusal, atomic delivery, sequence gaps, receipts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.agency.store import AgencyStore, SentRecord
from broker.errors import ConfigError, ReplayError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AgencyStore]:
    s = AgencyStore.open(tmp_path / "state.db")
    yield s
    s.close()


def _accept(store: AgencyStore, env: str, seq: int, payload: bytes | None = b"p") -> int:
    return store.accept(
        envelope_id=env,
        sender="ES-PN",
        sequence=seq,
        expires_at=2e9,
        kind="DOSSIER",
        provenance={"sender": "ES-PN"},
        payload=payload,
    )


def test_replayed_envelope_id_is_refused(store: AgencyStore) -> None:
    _accept(store, "env-1", 1)
    with pytest.raises(ReplayError):
        _accept(store, "env-1", 1)
    with pytest.raises(ReplayError):
        store.check_fresh(sender="ES-PN", envelope_id="env-1")
    assert len(store.inbox()) == 1


def test_replay_refusal_survives_restart(tmp_path: Path) -> None:
    first = AgencyStore.open(tmp_path / "state.db")
    _accept(first, "env-1", 1)
    first.close()
    again = AgencyStore.open(tmp_path / "state.db")
    with pytest.raises(ReplayError):
        _accept(again, "env-1", 1)
    again.close()


def test_sequence_gap_is_reported(store: AgencyStore) -> None:
    assert _accept(store, "a", 1) == 0
    assert _accept(store, "b", 2) == 0
    assert _accept(store, "c", 5) == 2


def test_failed_delivery_leaves_no_seen_mark(store: AgencyStore, tmp_path: Path) -> None:
    # A payload that cannot be stored (not bytes) aborts the whole transaction.
    with pytest.raises(Exception, match=r"."):
        store.accept(
            envelope_id="x",
            sender="ES-PN",
            sequence=1,
            expires_at=2e9,
            kind="DOSSIER",
            provenance={"bad": object()},
            payload=b"p",
        )
    store.check_fresh(sender="ES-PN", envelope_id="x")  # not marked seen


def test_sequence_numbers_are_durable_and_increasing(tmp_path: Path) -> None:
    s = AgencyStore.open(tmp_path / "state.db")
    assert [s.next_sequence() for _ in range(3)] == [1, 2, 3]
    s.close()
    s = AgencyStore.open(tmp_path / "state.db")
    assert s.next_sequence() == 4
    s.close()


def test_receipts_update_sent_status(store: AgencyStore) -> None:
    store.record_sent(
        envelope_id="e",
        kind="DOSSIER",
        recipients=["DE-BKA", "PT-PJ"],
        sequence=1,
        envelope_sha256="00" * 32,
    )
    store.record_receipt(envelope_id="e", recipient="DE-BKA", status="DELIVERED", reason=None)
    (item,) = store.sent()
    assert item.status == {"DE-BKA": "DELIVERED", "PT-PJ": "UNACKNOWLEDGED"}


def test_reserved_sequence_ranges_never_overlap(tmp_path: Path) -> None:
    s = AgencyStore.open(tmp_path / "state.db")
    assert s.next_sequences(3) == [1, 2, 3]
    assert s.next_sequence() == 4
    assert s.next_sequences(2) == [5, 6]
    s.close()
    s = AgencyStore.open(tmp_path / "state.db")
    assert s.next_sequences(1) == [7]
    with pytest.raises(ConfigError):
        s.next_sequences(0)
    s.close()


def test_batch_of_sent_envelopes_is_recorded_unacknowledged(store: AgencyStore) -> None:
    store.record_sent_many(
        [
            SentRecord(
                envelope_id=f"e{i}",
                kind="DOSSIER",
                recipients=["DE-BKA"],
                sequence=i,
                envelope_sha256="00" * 32,
            )
            for i in range(1, 4)
        ]
    )
    items = store.sent()
    assert sorted(i.envelope_id for i in items) == ["e1", "e2", "e3"]
    assert all(i.status == {"DE-BKA": "UNACKNOWLEDGED"} for i in items)


def test_read_only_store_sees_what_the_agency_stored_while_it_writes(
    store: AgencyStore,
) -> None:
    _accept(store, "d1", 1)
    _accept(store, "d2", 2)
    _accept(store, "seen-only", 3, payload=None)  # marked seen, nothing delivered
    store.accept(
        envelope_id="r1",
        sender="ES-PN",
        sequence=4,
        expires_at=2e9,
        kind="RECEIPT",
        provenance={},
        payload=b"r",
    )
    reader = AgencyStore.open_read_only(store.path)
    try:
        times = reader.handled_times(kind="DOSSIER")
        assert times == {i.envelope_id: i.received_at for i in store.inbox(kind="DOSSIER")}
        assert sorted(times) == ["d1", "d2"]
        assert list(reader.handled_times(kind="RECEIPT")) == ["r1"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.next_sequence()
    finally:
        reader.close()


def test_read_only_store_of_an_agency_without_tables_yet_has_handled_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    path.touch()  # the agency process has created the file, not its tables
    reader = AgencyStore.open_read_only(path)
    try:
        assert reader.handled_times(kind="DOSSIER") == {}
    finally:
        reader.close()
    assert path.stat().st_size == 0  # nothing created: opened read-only


def test_co_recipient_reusing_an_envelope_id_does_not_pre_claim_it(store: AgencyStore) -> None:
    # IT-PS re-uses ES-PN's (cleartext) envelope id first: ES-PN's envelope is still fresh.
    store.accept(
        envelope_id="env-1",
        sender="IT-PS",
        sequence=1,
        expires_at=2e9,
        kind="DOSSIER",
        provenance={"sender": "IT-PS"},
        payload=b"it",
    )
    store.check_fresh(sender="ES-PN", envelope_id="env-1")
    _accept(store, "env-1", 1)
    assert sorted((i.sender, i.payload) for i in store.inbox()) == [
        ("ES-PN", b"p"),
        ("IT-PS", b"it"),
    ]
    with pytest.raises(ReplayError):  # a genuine replay is still refused
        _accept(store, "env-1", 1)


def test_state_db_keyed_by_envelope_id_alone_is_migrated_keeping_its_rows(
    tmp_path: Path,
) -> None:
    # A state.db as written before the (sender, envelope id) key.
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE seen (envelope_id TEXT PRIMARY KEY, sender TEXT NOT NULL,
            sequence INTEGER NOT NULL, expires_at REAL NOT NULL, seen_at REAL NOT NULL);
        CREATE TABLE inbox (envelope_id TEXT PRIMARY KEY, sender TEXT NOT NULL,
            kind TEXT NOT NULL, received_at REAL NOT NULL, provenance TEXT NOT NULL,
            payload BLOB NOT NULL);
        INSERT INTO seen VALUES ('env-1', 'ES-PN', 1, 2e9, 1.0);
        INSERT INTO inbox VALUES ('env-1', 'ES-PN', 'DOSSIER', 1.0, '{}', x'70');
        """
    )
    old.commit()
    old.close()

    store = AgencyStore.open(path)
    try:
        assert [(i.envelope_id, i.sender, i.payload) for i in store.inbox()] == [
            ("env-1", "ES-PN", b"p")
        ]
        with pytest.raises(ReplayError):  # the seen-mark survived the migration
            _accept(store, "env-1", 1)
        store.check_fresh(sender="IT-PS", envelope_id="env-1")  # now keyed per sender
        store.accept(
            envelope_id="env-1",
            sender="IT-PS",
            sequence=1,
            expires_at=2e9,
            kind="DOSSIER",
            provenance={},
            payload=b"q",
        )
    finally:
        store.close()
    again = AgencyStore.open(path)  # opening a migrated store again changes nothing
    try:
        assert len(again.inbox()) == 2
    finally:
        again.close()
