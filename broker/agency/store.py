"""An agency's durable local state, in SQLite under ``<home>/state/<AGENCY>/``.

What it keeps, and why:

* **seen**: every (sender, envelope id) accepted, with the sequence number. Kafka idempotence
  only deduplicates producer retries; replaying a captured record is an attack, and the
  consumer must refuse it (``ReplayError``) for as long as the envelope is valid. Per-sender
  sequence numbers reveal gaps (lost or withheld records) and reordering.
* **inbox**: each delivered payload with its provenance, keyed by (sender, envelope id) like
  the seen-set, written in the *same* SQLite transaction as the seen-mark, so a crash can never
  deliver a dossier twice to the built-in handler nor mark it seen without storing it. Payloads
  are encrypted at rest under a key per payload kept in a separate file
  (:mod:`broker.agency.atrest`): erasing the key erases the dossier, backups included.
* **sent** and **receipts**: what this agency published, and what came back.
* **sequence**: the next per-sender sequence number, reserved durably before use.
* **pending_handler**: deliveries stored whose handler has not finished; a fetched batch is
  accepted in one transaction before its handlers run (:mod:`broker.agency.acceptance`), and
  what a crash leaves here is handed to the handler again at start-up, from the store.

Example::

    >>> import tempfile, pathlib
    >>> store = AgencyStore.open(pathlib.Path(tempfile.mkdtemp()) / "state.db")
    >>> store.next_sequence(), store.next_sequence()
    (1, 2)
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker._internal.sqlite import immediate, open_read_only, open_wal
from broker.agency import acceptance
from broker.agency.acceptance import Acceptance, PendingDelivery
from broker.agency.atrest import AtRestVault, vault_beside
from broker.agency.store_schema import SCHEMA, migrate
from broker.errors import ConfigError, ReplayError

__all__ = ["AgencyStore", "InboxItem", "SentItem", "SentRecord"]


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    """One delivered payload and its provenance (as stored)."""

    envelope_id: str
    sender: str
    kind: str
    received_at: float
    provenance: dict[str, Any]
    payload: bytes


@dataclass(frozen=True, kw_only=True)
class SentItem:
    """One published envelope and the receipt status per recipient."""

    envelope_id: str
    kind: str
    recipients: list[str]
    sequence: int
    sent_at: float
    status: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class SentRecord:
    """One published envelope, as the sent table keeps it."""

    envelope_id: str
    kind: str
    recipients: list[str]
    sequence: int
    envelope_sha256: str


class AgencyStore:
    """SQLite-backed state of one agency node.

    Several processes of one agency on one machine (``broker inbox --as X`` twice, a
    publisher beside them) share it: WAL, a 10 s busy timeout, and every write is one
    ``BEGIN IMMEDIATE`` transaction, so the replay check in :meth:`accept` (seen-mark
    insert on the primary key) and the sequence reservation are atomic across them.
    """

    def __init__(
        self, *, connection: sqlite3.Connection, path: Path, vault: AtRestVault | None = None
    ) -> None:
        self._db = connection
        self.path = path
        #: Per-payload keys in a separate file (:mod:`broker.agency.atrest`); None: plaintext.
        self.vault = vault

    @classmethod
    def open(cls, path: Path) -> AgencyStore:
        """Open (creating if needed) the store at ``path``."""
        try:
            db = open_wal(path, schema=SCHEMA + acceptance.PENDING_SCHEMA, busy_timeout_ms=10_000)
            migrate(db)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the agency state store", detail=str(path)) from exc
        return cls(connection=db, path=path, vault=AtRestVault.open(vault_beside(path)))

    @classmethod
    def open_read_only(cls, path: Path) -> AgencyStore:
        """Open the existing store at ``path`` for reading only (its agency may be writing)."""
        try:
            db = open_read_only(path, busy_timeout_ms=30_000)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the agency state store", detail=str(path)) from exc
        return cls(connection=db, path=path, vault=AtRestVault.open_read_only(vault_beside(path)))

    def close(self) -> None:
        """Close the database (and the at-rest key file)."""
        self._db.close()
        if self.vault is not None:
            self.vault.close()

    def _plain(self, sender: str, envelope_id: str, payload: bytes) -> bytes:
        return payload if self.vault is None else self.vault.unseal(sender, envelope_id, payload)

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._db)

    # -- sequence numbers ---------------------------------------------------------------

    def next_sequence(self, name: str = "publish") -> int:
        """Reserve and return the next sequence number (durable before it is used)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO counters(name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name,),
            )
            row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def next_sequences(self, count: int, name: str = "publish") -> list[int]:
        """Reserve ``count`` consecutive sequence numbers in one transaction; return them."""
        if count < 1:
            raise ConfigError("reserve at least one sequence number")
        with self._transaction() as db:
            db.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + ?",
                (name, count, count),
            )
            row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        last = int(row[0])
        return list(range(last - count + 1, last + 1))

    # -- replay protection and delivery ---------------------------------------------------

    def check_fresh(self, *, sender: str, envelope_id: str) -> None:
        """Raise :class:`ReplayError` if ``sender``'s ``envelope_id`` was already accepted.

        Keyed by (sender, id): an id is chosen by its sender and readable by every
        co-recipient, so another agency re-using it must not pre-claim it.
        """
        row = self._db.execute(
            "SELECT sender, sequence FROM seen WHERE sender = ? AND envelope_id = ?",
            (sender, envelope_id),
        ).fetchone()
        if row is not None:
            raise ReplayError(
                "envelope already received",
                detail=f"envelope {envelope_id} from {row[0]} seq {row[1]} seen before",
            )

    def accept(
        self,
        *,
        envelope_id: str,
        sender: str,
        sequence: int,
        expires_at: float,
        kind: str,
        provenance: dict[str, Any],
        payload: bytes | None,
    ) -> int:
        """Mark ``sender``'s ``envelope_id`` seen and (if ``payload``) store it, atomically.

        Returns the number of sequence numbers skipped since the sender's highest
        (0 when in order; a positive gap is recorded for operators). Raises
        :class:`ReplayError` if the id was seen before — the check and the insert
        happen in one transaction, so two racing deliveries cannot both succeed.
        """
        now = time.time()
        if payload is not None and self.vault is not None:
            (payload,) = self.vault.seal_many([(sender, envelope_id, payload)])
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO seen VALUES (?, ?, ?, ?, ?)",
                    (envelope_id, sender, sequence, expires_at, now),
                )
            except sqlite3.IntegrityError:
                raise ReplayError(
                    "envelope already received", detail=f"envelope {envelope_id} seen before"
                ) from None
            row = db.execute(
                "SELECT highest FROM sender_sequence WHERE sender = ?", (sender,)
            ).fetchone()
            gap = 0
            if row is None:
                db.execute("INSERT INTO sender_sequence VALUES (?, ?, 0)", (sender, sequence))
            elif sequence > row[0]:
                gap = sequence - row[0] - 1
                db.execute(
                    "UPDATE sender_sequence SET highest = ?, gaps = gaps + ? WHERE sender = ?",
                    (sequence, gap, sender),
                )
            if payload is not None:
                db.execute(
                    "INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)",
                    (envelope_id, sender, kind, now, json.dumps(provenance), payload),
                )
        return gap

    def seen_among(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return which (sender, envelope id) of ``keys`` were already accepted."""
        return acceptance.seen_among(self._db, keys)

    def handled_among(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (sender, envelope id) of ``keys`` were accepted and are no longer pending."""
        pending = {(p.sender, p.envelope_id) for p in acceptance.pending(self._db)}
        return self.seen_among(keys) - pending

    def accept_many(self, items: Sequence[Acceptance]) -> list[int | None]:
        """Accept a fetched batch in ONE transaction; return each item's gap, None if a replay.

        Replays (seen before, or twice in ``items``) are checked inside the transaction,
        so two processes sharing the inbox cannot both accept one envelope. See
        :func:`broker.agency.acceptance.accept_many`.
        """
        sealed = self.vault.seal_acceptances(items) if self.vault else items
        with self._transaction() as db:
            return acceptance.accept_many(db, sealed)

    def pending(self) -> list[PendingDelivery]:
        """Return the stored deliveries whose handler has not finished, in arrival order."""
        rows = acceptance.pending(self._db)
        return self.vault.unseal_pending(rows) if self.vault else rows

    def handled(
        self, done: Sequence[tuple[str, str]], *, failed: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Clear the pending marks of ``done`` and ``failed`` (sender, id) in one transaction.

        A ``failed`` delivery (its handler refused it with a typed error; it is
        dead-lettered) leaves the inbox but keeps its seen-mark: a re-sent copy is
        still refused as a replay.
        """
        if done or failed:
            with self._transaction() as db:
                acceptance.handled(db, done, failed=failed)

    def forget_expired(self, *, now: float | None = None) -> int:
        """Drop seen-marks of envelopes past expiry (they are refused as expired anyway)."""
        cutoff = time.time() if now is None else now
        with self._transaction() as db:
            cur = db.execute("DELETE FROM seen WHERE expires_at < ?", (cutoff,))
        return cur.rowcount

    def inbox(self, *, kind: str | None = None) -> list[InboxItem]:
        """Return delivered payloads in arrival order, optionally of one kind."""
        query = "SELECT envelope_id, sender, kind, received_at, provenance, payload FROM inbox"
        args: tuple[str, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        rows = self._db.execute(query + " ORDER BY received_at, rowid", args).fetchall()
        return [
            InboxItem(
                envelope_id=r[0],
                sender=r[1],
                kind=r[2],
                received_at=r[3],
                provenance=json.loads(r[4]),
                payload=self._plain(r[1], r[0], bytes(r[5])),
            )
            for r in rows
        ]

    def handled_times(self, *, kind: str) -> dict[str, float]:
        """Return envelope id -> time stored, for every delivered payload of ``kind``.

        Empty while the agency has not created its tables yet (a store opened read-only).
        """
        try:
            rows = self._db.execute(
                "SELECT envelope_id, received_at FROM inbox WHERE kind = ?", (kind,)
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
        return {str(r[0]): float(r[1]) for r in rows}

    # -- sent log and receipts ----------------------------------------------------------------

    def record_sent(
        self,
        *,
        envelope_id: str,
        kind: str,
        recipients: list[str],
        sequence: int,
        envelope_sha256: str,
    ) -> None:
        """Remember a published envelope (status 'unacknowledged' until a receipt)."""
        self.record_sent_many(
            [
                SentRecord(
                    envelope_id=envelope_id,
                    kind=kind,
                    recipients=recipients,
                    sequence=sequence,
                    envelope_sha256=envelope_sha256,
                )
            ]
        )

    def record_sent_many(self, records: Sequence[SentRecord]) -> None:
        """Remember published envelopes in one transaction (each 'unacknowledged' for now)."""
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.envelope_id,
                        r.kind,
                        json.dumps(r.recipients),
                        r.sequence,
                        now,
                        r.envelope_sha256,
                    )
                    for r in records
                ],
            )

    def record_receipt(
        self, *, envelope_id: str, recipient: str, status: str, reason: str | None
    ) -> None:
        """Record a receipt (DELIVERED / REJECTED) from ``recipient``; the first one wins."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)",
                (envelope_id, recipient, status, reason, time.time()),
            )

    def receipt_log(self) -> list[tuple[str, str, str, str | None, float]]:
        """Return every receipt: ``(envelope id, recipient, status, reason, at)``, oldest first."""
        rows = self._db.execute(
            "SELECT envelope_id, recipient, status, reason, at FROM receipts ORDER BY at"
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), r[3], float(r[4])) for r in rows]

    def sent(self) -> list[SentItem]:
        """Return every published envelope with its per-recipient status."""
        receipts: dict[str, dict[str, str]] = {}
        for env_id, recipient, status in self._db.execute(
            "SELECT envelope_id, recipient, status FROM receipts"
        ):
            receipts.setdefault(env_id, {})[recipient] = status
        items = []
        for env_id, kind, recipients, sequence, sent_at in self._db.execute(
            "SELECT envelope_id, kind, recipients, sequence, sent_at FROM sent ORDER BY sequence"
        ):
            rcpts = json.loads(recipients)
            got = receipts.get(env_id, {})
            items.append(
                SentItem(
                    envelope_id=env_id,
                    kind=kind,
                    recipients=rcpts,
                    sequence=sequence,
                    sent_at=sent_at,
                    status={r: got.get(r, "UNACKNOWLEDGED") for r in rcpts},
                )
            )
        return items
