"""Accepting a fetched batch in the agency store: one transaction, handlers after it.

The inbox accepts what a fetched batch delivers in ONE SQLite transaction
(:meth:`~broker.agency.store.AgencyStore.accept_many`): the replay check (one
``SELECT`` per sender in the batch, inside the transaction, plus duplicates within
the batch), the seen-marks, the senders' sequence numbers, the stored payloads,
the receipts that came back, and a ``pending_handler`` row for each delivery whose
handler has not run yet. Handlers run after that commit; one more transaction
(:meth:`~broker.agency.store.AgencyStore.handled`) clears their rows. A crash in
between leaves the rows, and the inbox replays those handlers from the store at
start-up — never from Kafka: the store is the exactly-once record.

What a pending row keeps to rebuild the delivery (``resume``) is the inbox's
business; the store keeps it as opaque text.

Example::

    >>> Acceptance(envelope_id="e1", sender="ES-PN", sequence=1, expires_at=2e9,
    ...            kind="DOSSIER", provenance={}, payload=b"p").key
    ('ES-PN', 'e1')
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker._internal.sqlite import rows_among

__all__ = [
    "Acceptance",
    "PendingDelivery",
    "ReceiptRow",
    "accept_many",
    "handled",
    "pending",
    "seen_among",
]

#: The table of deliveries stored whose handler has not finished (see the module docstring).
PENDING_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_handler (
    sender TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    resume TEXT NOT NULL,
    PRIMARY KEY (sender, envelope_id)
);
"""


@dataclass(frozen=True, kw_only=True)
class ReceiptRow:
    """A receipt that came back: ``recipient`` says ``status`` about our ``envelope_id``."""

    envelope_id: str
    recipient: str
    status: str
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class Acceptance:
    """One verified, decrypted, validated record to accept (mark seen, store, hand over)."""

    envelope_id: str
    sender: str
    sequence: int
    expires_at: float
    kind: str
    provenance: dict[str, Any]
    #: Stored in the inbox table when not None.
    payload: bytes | None
    #: A ``pending_handler`` row is written with this text when not None.
    resume: str | None = None
    #: The receipt this record carries (kind RECEIPT), recorded only if it is fresh.
    receipt: ReceiptRow | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(sender, envelope id): what the seen-set is keyed by."""
        return (self.sender, self.envelope_id)


@dataclass(frozen=True, kw_only=True)
class PendingDelivery:
    """A stored delivery whose handler has not finished (found at start-up)."""

    envelope_id: str
    sender: str
    kind: str
    provenance: dict[str, Any]
    payload: bytes
    resume: str


def seen_among(db: sqlite3.Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Return which (sender, envelope id) of ``keys`` are already in the seen-set.

    One ``SELECT`` per distinct sender, on the primary key (sender, envelope_id).
    """
    among = rows_among(
        db, select="envelope_id FROM seen", where=("sender", "envelope_id"), keys=keys
    )
    return {(sender, str(row[0])) for sender, row in among}


def accept_many(db: sqlite3.Connection, items: Sequence[Acceptance]) -> list[int | None]:
    """Accept ``items`` inside the caller's open transaction; return each one's gap or None.

    None marks a replay (seen before, or earlier in ``items``): nothing of it is written.
    A gap is the number of sequence numbers skipped since the sender's highest.
    """
    now = time.time()
    seen = seen_among(db, [i.key for i in items])
    highest: dict[str, int | None] = {}
    for sender in {i.sender for i in items}:
        row = db.execute("SELECT highest FROM sender_sequence WHERE sender = ?", (sender,))
        got = row.fetchone()
        highest[sender] = None if got is None else int(got[0])
    gaps: dict[str, int] = {}
    fresh: list[Acceptance] = []
    out: list[int | None] = []
    for item in items:
        if item.key in seen:
            out.append(None)
            continue
        seen.add(item.key)
        fresh.append(item)
        top = highest[item.sender]
        gap = 0
        if top is not None and item.sequence > top:
            gap = item.sequence - top - 1
        if top is None or item.sequence > top:
            highest[item.sender] = item.sequence
        gaps[item.sender] = gaps.get(item.sender, 0) + gap
        out.append(gap)
    db.executemany(
        "INSERT INTO seen VALUES (?, ?, ?, ?, ?)",
        [(i.envelope_id, i.sender, i.sequence, i.expires_at, now) for i in fresh],
    )
    for sender in {i.sender for i in fresh}:
        db.execute(
            "INSERT INTO sender_sequence VALUES (?, ?, ?) ON CONFLICT(sender) "
            "DO UPDATE SET highest = excluded.highest, gaps = gaps + excluded.gaps",
            (sender, highest[sender], gaps.get(sender, 0)),
        )
    db.executemany(
        "INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)",
        [
            (i.envelope_id, i.sender, i.kind, now, json.dumps(i.provenance), i.payload)
            for i in fresh
            if i.payload is not None
        ],
    )
    db.executemany(
        "INSERT INTO pending_handler VALUES (?, ?, ?)",
        [(i.sender, i.envelope_id, i.resume) for i in fresh if i.resume is not None],
    )
    db.executemany(
        "INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)",
        [
            (r.envelope_id, r.recipient, r.status, r.reason, now)
            for r in (i.receipt for i in fresh)
            if r is not None
        ],
    )
    return out


def pending(db: sqlite3.Connection) -> list[PendingDelivery]:
    """Return the stored deliveries whose handler has not finished, in arrival order."""
    rows = db.execute(
        "SELECT i.envelope_id, i.sender, i.kind, i.provenance, i.payload, p.resume "
        "FROM pending_handler p JOIN inbox i "
        "ON i.sender = p.sender AND i.envelope_id = p.envelope_id "
        "ORDER BY i.received_at, i.rowid"
    ).fetchall()
    return [
        PendingDelivery(
            envelope_id=r[0],
            sender=r[1],
            kind=r[2],
            provenance=json.loads(r[3]),
            payload=bytes(r[4]),
            resume=r[5],
        )
        for r in rows
    ]


def handled(
    db: sqlite3.Connection,
    done: Sequence[tuple[str, str]],
    *,
    failed: Sequence[tuple[str, str]] = (),
) -> None:
    """Clear pending marks inside the caller's transaction; ``failed`` leave the inbox too."""
    db.executemany(
        "DELETE FROM pending_handler WHERE sender = ? AND envelope_id = ?", [*done, *failed]
    )
    db.executemany("DELETE FROM inbox WHERE sender = ? AND envelope_id = ?", failed)
