"""The writer's journal: gap-free sequence numbers and an intact chain, even with several
processes writing one stream; a journal cannot be opened as another stream's."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from broker import merkle
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.journal import AuditJournal
from broker.errors import AuditError


def _append_many(path: str, count: int) -> None:
    journal = AuditJournal.open(Path(path), stream="ES-PN")
    try:
        for _ in range(count):
            journal.append(AuditEvent.new(AuditKind.PUBLISH, actor="ES-PN"))
    finally:
        journal.close()


def test_concurrent_writers_of_one_stream_get_a_gap_free_chained_sequence(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditJournal.open(path, stream="ES-PN").close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), 40)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]

    journal = AuditJournal.open(path, stream="ES-PN")
    values = journal.events()
    events = [AuditEvent.from_bytes(v) for v in values]
    assert [e.seq for e in events] == list(range(160))
    prev = b""
    for event, value in zip(events, values, strict=True):
        assert event.prev_leaf_hash == prev
        prev = merkle.leaf_hash(value)
    head = journal.settled_head()
    assert head is None  # nothing published yet
    journal.mark_published(159)
    head = journal.settled_head()
    assert head == (160, merkle.root([merkle.leaf_hash(v) for v in values]))
    journal.close()


def test_a_journal_belongs_to_one_stream(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditJournal.open(path, stream="ES-PN").close()
    with pytest.raises(AuditError, match="another stream"):
        AuditJournal.open(path, stream="DE-BKA")


def test_events_are_stored_exactly_as_encoded(tmp_path: Path) -> None:
    journal = AuditJournal.open(tmp_path / "audit.db", stream="router")
    placed = journal.append(
        AuditEvent.new(AuditKind.REJECT, actor="router", reason="malformed", parties=["IT-PS"])
    )
    assert journal.unpublished() == [(0, placed.to_bytes())]
    assert AuditEvent.from_bytes(journal.events()[0]) == placed
    journal.close()
