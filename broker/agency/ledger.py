"""The compliance ledger: control orders, the answers to them, and recall tombstones.

Tables beside the agency store (same SQLite file, own connection; WAL lets both in):

* owner side — ``control_orders`` (what this agency ordered, to whom, due when),
  ``compliance`` (each holder's signed answer, first one wins) and ``downstream`` (the
  agencies the hub relayed an order to: a hit on the dossier was released to them);
* relaying side (the hub) — ``relayed`` (another owner's order relayed to an agency whose
  own holding is restricted, so it answers the hub: the hub keeps that answer in
  ``compliance``);
* holder side — ``recalled`` (owner, envelope id): a tombstone kept for good, so a
  recalled dossier is refused from any Kafka copy (offset reset, replayed record),
  long after the replay seen-set forgot it; ``answered`` (order id -> what we answered);
  ``restricted`` (owner, envelope id -> the codes a restriction put in force).

Example::

    >>> import tempfile, pathlib
    >>> ledger = ComplianceLedger.open(pathlib.Path(tempfile.mkdtemp()) / "state.db")
    >>> ledger.is_recalled("ES-PN", "0" * 32)
    False
    >>> ledger.close()
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker._internal.sqlite import immediate, open_wal, rows_among
from broker.agency.restrict import is_tightening
from broker.errors import ConfigError
from broker.models.codes import codes_from_json, codes_to_json

__all__ = ["DEFAULT_DEADLINE", "ComplianceLedger", "ComplianceRow", "OrderRow", "RelayedRow"]

#: How long a holder has to answer a control order (the issue's default).
DEFAULT_DEADLINE = dt.timedelta(hours=24)

SCHEMA = """
CREATE TABLE IF NOT EXISTS control_orders (
    order_id TEXT PRIMARY KEY, action TEXT NOT NULL, envelope_id TEXT NOT NULL,
    holders TEXT NOT NULL, reason TEXT NOT NULL, codes TEXT,
    issued_at REAL NOT NULL, deadline REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS compliance (
    order_id TEXT NOT NULL, holder TEXT NOT NULL, status TEXT NOT NULL, ground TEXT,
    held INTEGER NOT NULL, erased INTEGER NOT NULL, at REAL NOT NULL, receipt_id TEXT NOT NULL,
    PRIMARY KEY (order_id, holder)
);
CREATE TABLE IF NOT EXISTS recalled (
    owner TEXT NOT NULL, envelope_id TEXT NOT NULL, order_id TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (owner, envelope_id)
);
CREATE TABLE IF NOT EXISTS answered (
    order_id TEXT PRIMARY KEY, owner TEXT NOT NULL, envelope_id TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, ground TEXT, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS extended (
    owner TEXT NOT NULL, envelope_id TEXT NOT NULL, until REAL NOT NULL, order_id TEXT NOT NULL,
    PRIMARY KEY (owner, envelope_id)
);
CREATE TABLE IF NOT EXISTS downstream (
    order_id TEXT NOT NULL, holder TEXT NOT NULL, via TEXT NOT NULL,
    PRIMARY KEY (order_id, holder)
);
CREATE TABLE IF NOT EXISTS relayed (
    order_id TEXT NOT NULL, holder TEXT NOT NULL, owner TEXT NOT NULL, envelope_id TEXT NOT NULL,
    action TEXT NOT NULL, deadline REAL NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (order_id, holder)
);
CREATE TABLE IF NOT EXISTS restricted (
    owner TEXT NOT NULL, envelope_id TEXT NOT NULL, codes TEXT NOT NULL, order_id TEXT NOT NULL,
    PRIMARY KEY (owner, envelope_id)
);
"""


@dataclass(frozen=True, kw_only=True)
class OrderRow:
    """One control order this agency issued."""

    order_id: str
    action: str
    envelope_id: str
    holders: list[str]
    reason: str
    issued_at: float
    deadline: float


@dataclass(frozen=True, kw_only=True)
class RelayedRow:
    """Another owner's order we relayed to ``holder``, who answers us (restricted holding)."""

    order_id: str
    action: str
    envelope_id: str
    owner: str
    holder: str
    deadline: float
    at: float


@dataclass(frozen=True, kw_only=True)
class ComplianceRow:
    """One holder's answer to one of our orders."""

    order_id: str
    holder: str
    status: str
    ground: str | None
    held: bool
    erased: int
    at: float
    receipt_id: str


class ComplianceLedger:
    """The ledger's tables (see the module docstring)."""

    def __init__(self, *, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> ComplianceLedger:
        """Open (creating if needed) the ledger in the agency state database at ``path``."""
        try:
            db = open_wal(path, schema=SCHEMA, busy_timeout_ms=10_000)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the compliance ledger", detail=str(path)) from exc
        return cls(db=db)

    @property
    def db(self) -> sqlite3.Connection:
        """The connection (for one erasure transaction across ledger and store tables)."""
        return self._db

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Return one ``BEGIN IMMEDIATE`` transaction on the ledger's connection."""
        return immediate(self._db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # -- owner side ------------------------------------------------------------------------

    def add_order(self, order: OrderRow, *, codes: dict[str, Any] | None) -> None:
        """Remember an order we issued."""
        with immediate(self._db) as db:
            db.execute(
                "INSERT INTO control_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.order_id,
                    order.action,
                    order.envelope_id,
                    json.dumps(order.holders),
                    order.reason,
                    None if codes is None else json.dumps(codes, default=str),
                    order.issued_at,
                    order.deadline,
                ),
            )

    def order(self, order_id: str) -> OrderRow | None:
        """Return our order ``order_id``, or None."""
        rows = self.orders(order_id=order_id)
        return rows[0] if rows else None

    def orders(self, *, order_id: str | None = None) -> list[OrderRow]:
        """Return our orders (oldest first)."""
        query = (
            "SELECT order_id, action, envelope_id, holders, reason, issued_at, deadline "
            "FROM control_orders"
        )
        args: tuple[str, ...] = ()
        if order_id is not None:
            query, args = query + " WHERE order_id = ?", (order_id,)
        return [
            OrderRow(
                order_id=r[0],
                action=r[1],
                envelope_id=r[2],
                holders=json.loads(r[3]),
                reason=r[4],
                issued_at=r[5],
                deadline=r[6],
            )
            for r in self._db.execute(query + " ORDER BY issued_at, rowid", args)
        ]

    def record_compliance(self, row: ComplianceRow) -> bool:
        """Record a holder's answer; False if that holder had already answered the order."""
        with immediate(self._db) as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO compliance VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.order_id,
                    row.holder,
                    row.status,
                    row.ground,
                    int(row.held),
                    row.erased,
                    row.at,
                    row.receipt_id,
                ),
            )
        return cur.rowcount == 1

    def add_downstream(self, order_id: str, *, holders: list[str], via: str) -> None:
        """Record that ``via`` relayed our order to ``holders`` (they owe an answer too)."""
        with immediate(self._db) as db:
            db.executemany(
                "INSERT OR IGNORE INTO downstream VALUES (?, ?, ?)",
                [(order_id, holder, via) for holder in holders],
            )

    def downstream(self, order_id: str) -> dict[str, str]:
        """Return holder -> the holder that relayed our order ``order_id`` to it."""
        return {
            str(r[0]): str(r[1])
            for r in self._db.execute(
                "SELECT holder, via FROM downstream WHERE order_id = ? ORDER BY holder",
                (order_id,),
            )
        }

    def add_relayed(self, row: RelayedRow) -> None:
        """Record that we relayed ``row.owner``'s order to ``row.holder``, who answers us."""
        with immediate(self._db) as db:
            db.execute(
                "INSERT OR IGNORE INTO relayed VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.order_id,
                    row.holder,
                    row.owner,
                    row.envelope_id,
                    row.action,
                    row.deadline,
                    row.at,
                ),
            )

    def relayed(self) -> list[RelayedRow]:
        """Return the orders we relayed to holders that answer us, oldest first."""
        return self._relayed("", ())

    def relayed_to(self, order_id: str, holder: str) -> RelayedRow | None:
        """Return our relay of ``order_id`` to the restricted ``holder``, if we relayed it."""
        rows = self._relayed("WHERE order_id = ? AND holder = ?", (order_id, holder))
        return rows[0] if rows else None

    def _relayed(self, where: str, params: tuple[str, ...]) -> list[RelayedRow]:
        return [
            RelayedRow(
                order_id=str(r[0]),
                holder=str(r[1]),
                owner=str(r[2]),
                envelope_id=str(r[3]),
                action=str(r[4]),
                deadline=float(r[5]),
                at=float(r[6]),
            )
            for r in self._db.execute(
                "SELECT order_id, holder, owner, envelope_id, action, deadline, at FROM relayed "  # noqa: S608 - fixed clauses only
                f"{where} ORDER BY at, order_id, holder",
                params,
            )
        ]

    def answers(self, order_id: str) -> dict[str, ComplianceRow]:
        """Return holder -> answer for one of our orders."""
        return {
            r[1]: ComplianceRow(
                order_id=r[0],
                holder=r[1],
                status=r[2],
                ground=r[3],
                held=bool(r[4]),
                erased=r[5],
                at=r[6],
                receipt_id=r[7],
            )
            for r in self._db.execute(
                "SELECT order_id, holder, status, ground, held, erased, at, receipt_id "
                "FROM compliance WHERE order_id = ?",
                (order_id,),
            )
        }

    # -- holder side -----------------------------------------------------------------------

    def is_recalled(self, owner: str, envelope_id: str) -> bool:
        """Whether ``owner`` recalled its ``envelope_id`` (we refuse to open it again)."""
        row = self._db.execute(
            "SELECT 1 FROM recalled WHERE owner = ? AND envelope_id = ?", (owner, envelope_id)
        ).fetchone()
        return row is not None

    def recalled_among(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return which (owner, envelope id) of ``keys`` were recalled: one query per owner."""
        among = rows_among(
            self._db, select="envelope_id FROM recalled", where=("owner", "envelope_id"), keys=keys
        )
        return {(owner, str(row[0])) for owner, row in among}

    def answered(self, order_id: str) -> tuple[str, str | None] | None:
        """Return (status, ground) we answered to ``order_id``, or None."""
        row = self._db.execute(
            "SELECT status, ground FROM answered WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), row[1])

    def record_restriction(
        self,
        *,
        owner: str,
        envelope_id: str,
        order_id: str,
        new: dict[str, Any],
        current: Mapping[str, Any] | None,
    ) -> tuple[str, str | None]:
        """Answer a RESTRICT order in ONE transaction: (status, ground).

        APPLIED (the tighter ``new`` codes recorded) unless they widen ``current`` (the
        codes in force here, if any): REFUSED ``restriction-widens``.
        """
        widens = current is not None and not is_tightening(current, new)
        status, ground = ("REFUSED", "restriction-widens") if widens else ("APPLIED", None)
        with self.transaction() as db:
            if status == "APPLIED":
                db.execute(
                    "INSERT OR REPLACE INTO restricted VALUES (?, ?, ?, ?)",
                    (owner, envelope_id, json.dumps(codes_to_json(new)), order_id),
                )
            self.note_answer(
                db,
                order_id=order_id,
                owner=owner,
                envelope_id=envelope_id,
                action="RESTRICT",
                status=status,
                ground=ground,
            )
        return status, ground

    def tombstone(
        self, db: sqlite3.Connection, *, sender: str, envelope_id: str, order_id: str
    ) -> int:
        """Erase ``sender``'s stored ``envelope_id`` and refuse it from now on, inside the
        caller's transaction ``db``; return the rows erased (inbox, pending handler)."""
        erased = 0
        for table in ("inbox", "pending_handler"):  # the agency store's, if this file has them
            if db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone():
                erased += db.execute(
                    f"DELETE FROM {table} WHERE sender = ? AND envelope_id = ?",  # noqa: S608
                    (sender, envelope_id),
                ).rowcount
        db.execute(
            "INSERT OR IGNORE INTO recalled VALUES (?, ?, ?, ?)",
            (sender, envelope_id, order_id, time.time()),
        )
        return erased

    def note_answer(
        self,
        db: sqlite3.Connection,
        *,
        order_id: str,
        owner: str,
        envelope_id: str,
        action: str,
        status: str,
        ground: str | None,
    ) -> None:
        """Record our answer inside the caller's transaction ``db``."""
        db.execute(
            "INSERT OR IGNORE INTO answered VALUES (?, ?, ?, ?, ?, ?, ?)",
            (order_id, owner, envelope_id, action, status, ground, time.time()),
        )

    def restricted_codes(self, owner: str, envelope_id: str) -> dict[str, Any] | None:
        """Return the codes a restriction put in force on a held dossier, or None."""
        row = self._db.execute(
            "SELECT codes FROM restricted WHERE owner = ? AND envelope_id = ?",
            (owner, envelope_id),
        ).fetchone()
        return None if row is None else codes_from_json(json.loads(row[0]))
