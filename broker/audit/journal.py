"""The durable, single-writer state of one audit stream, in SQLite.

Appending an event assigns its sequence number, links it to the previous leaf
and advances the Merkle frontier in one ``BEGIN IMMEDIATE`` transaction, so
several processes acting for the same stream (an agency's publisher and its
inbox consumer) still get a gap-free sequence. Events stay in the journal,
marked published once Kafka acknowledged them: a crash between the two only
re-publishes byte-identical records, which the verifier recognises.

Durability: WAL with ``synchronous=NORMAL`` — safe against process crashes
(the threat the chaos suite exercises), not against power loss.

Example::

    >>> import tempfile, pathlib
    >>> from broker.audit.events import AuditEvent, AuditKind
    >>> j = AuditJournal.open(pathlib.Path(tempfile.mkdtemp()) / "audit.db", stream="ES-PN")
    >>> [j.append(AuditEvent.new(AuditKind.PUBLISH, actor="ES-PN")).seq for _ in range(3)]
    [0, 1, 2]
    >>> j.size, len(j.unpublished())
    (3, 3)
    >>> j.close()
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from broker import merkle
from broker._internal.sqlite import immediate, open_wal
from broker.audit.events import AuditEvent
from broker.errors import AuditError

__all__ = ["AuditJournal", "StoredCheckpoint"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    value BLOB NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    note BLOB NOT NULL,
    created_at REAL NOT NULL,
    published_at REAL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


@dataclass(frozen=True, kw_only=True)
class StoredCheckpoint:
    """A checkpoint this writer signed."""

    size: int
    note: bytes
    created_at: float
    published_at: float | None


class AuditJournal:
    """One stream's journal: positioned events, the Merkle frontier, signed checkpoints."""

    def __init__(self, *, connection: sqlite3.Connection, stream: str, path: Path) -> None:
        self._db = connection
        self.stream = stream
        self.path = path

    @classmethod
    def open(cls, path: Path, *, stream: str) -> AuditJournal:
        """Open (creating if needed) the journal of ``stream`` at ``path``."""
        try:
            db = open_wal(path, schema=_SCHEMA, busy_timeout_ms=30_000)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('stream', ?)", (stream.encode(),))
            (owner,) = db.execute("SELECT value FROM meta WHERE key='stream'").fetchone()
        except sqlite3.Error as exc:
            raise AuditError("cannot open the audit journal", detail=f"{path}: {exc}") from exc
        if bytes(owner).decode() != stream:
            db.close()
            raise AuditError(
                "audit journal belongs to another stream",
                detail=f"{path} is {bytes(owner).decode()!r}, not {stream!r}",
            )
        return cls(connection=db, stream=stream, path=path)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def _frontier(self) -> merkle.CompactRange:
        size = int(self._meta("size") or b"0")
        raw = self._meta("frontier") or b""
        nodes = [raw[i : i + 32] for i in range(0, len(raw), 32)]
        return merkle.CompactRange.from_frontier(size=size, nodes=nodes)

    @property
    def size(self) -> int:
        """Number of events appended (published or not)."""
        return int(self._meta("size") or b"0")

    def append(self, event: AuditEvent) -> AuditEvent:
        """Place ``event`` at the next sequence number, durably; return it positioned."""
        return self.append_many([event])[0]

    def append_many(self, events: list[AuditEvent]) -> list[AuditEvent]:
        """Place ``events`` at the next sequence numbers in one transaction; return them."""
        db = self._db
        placed_all: list[AuditEvent] = []
        try:
            with immediate(db):
                rng = self._frontier()
                prev = self._meta("last_leaf") or b""
                rows = []
                for event in events:
                    placed = event.at_position(stream=self.stream, seq=rng.size, prev=prev)
                    value = placed.to_bytes()
                    prev = merkle.leaf_hash(value)
                    rng.append(prev)
                    rows.append((placed.seq, value))
                    placed_all.append(placed)
                db.executemany("INSERT INTO events (seq, value) VALUES (?, ?)", rows)
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [
                        ("size", str(rng.size).encode()),
                        ("frontier", b"".join(rng.frontier)),
                        ("last_leaf", prev),
                        ("root", rng.root()),
                    ],
                )
        except sqlite3.Error as exc:
            raise AuditError("cannot append to the audit journal", detail=str(exc)) from exc
        return placed_all

    def unpublished(self) -> list[tuple[int, bytes]]:
        """Return ``(seq, value)`` of every event Kafka has not acknowledged, in order."""
        rows = self._db.execute(
            "SELECT seq, value FROM events WHERE published=0 ORDER BY seq"
        ).fetchall()
        return [(int(s), bytes(v)) for s, v in rows]

    def mark_published(self, up_to_seq: int) -> None:
        """Record that every event up to ``up_to_seq`` is in Kafka."""
        self._db.execute("UPDATE events SET published=1 WHERE seq<=? AND published=0", (up_to_seq,))

    def settled_head(self) -> tuple[int, bytes] | None:
        """Return ``(size, root)`` if every appended event is published, else None."""
        db = self._db
        db.execute("BEGIN")
        try:
            pending = db.execute("SELECT COUNT(*) FROM events WHERE published=0").fetchone()[0]
            size, root = self.size, self._meta("root")
        finally:
            db.execute("COMMIT")
        if pending or size == 0 or root is None:
            return None
        return size, root

    def events(self, start: int = 0, stop: int | None = None) -> list[bytes]:
        """Return the stored event values with ``start <= seq < stop``."""
        stop = self.size if stop is None else stop
        rows = self._db.execute(
            "SELECT value FROM events WHERE seq>=? AND seq<? ORDER BY seq", (start, stop)
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def add_checkpoint(self, *, size: int, note: bytes) -> None:
        """Store a freshly signed checkpoint (not yet published)."""
        self._db.execute(
            "INSERT OR IGNORE INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)",
            (size, note, time.time()),
        )

    def renew_checkpoint(self, *, size: int, note: bytes) -> None:
        """Replace the note at ``size`` by one re-signed later (same tree, newer time)."""
        self._db.execute("UPDATE checkpoints SET note=? WHERE size=?", (note, size))

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """Return the checkpoint with the largest size, if any."""
        row = self._db.execute(
            "SELECT size, note, created_at, published_at FROM checkpoints "
            "ORDER BY size DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return StoredCheckpoint(
            size=int(row[0]), note=bytes(row[1]), created_at=row[2], published_at=row[3]
        )

    def mark_checkpoint_published(self, size: int) -> None:
        """Record that the checkpoint at ``size`` was (re-)published now."""
        self._db.execute("UPDATE checkpoints SET published_at=? WHERE size=?", (time.time(), size))
