"""One agency's request state: its requests (sent and received), their threads, consents.

Kept in ``state/<AGENCY>/requests.db`` (SQLite, WAL; beside the agency store, never
in it), written by the node that sends or receives, read by ``broker cases`` and
``broker deadlines``. Every time is seconds since the epoch (UTC). ``received_at`` of
a received request is the **router's stamp**: the timestamp of the inbox record the
router wrote (docs/requests.md, "The clock").

Example::

    >>> import tempfile, pathlib
    >>> s = RequestStore.open(pathlib.Path(tempfile.mkdtemp()) / "requests.db")
    >>> s.requests()
    []
    >>> s.close()
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker._internal.sqlite import immediate, open_wal
from broker.errors import ConfigError, UnknownRequestError

__all__ = ["Consent", "RequestRow", "RequestStore", "ThreadEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    role TEXT NOT NULL,             -- 'sent' or 'received'
    requester TEXT NOT NULL,
    responder TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    urgency TEXT NOT NULL,
    sent_at REAL,                   -- the requester's publish time (sent requests)
    received_at REAL,               -- the router's stamp (received; sent: from a notice)
    deadline REAL,
    status TEXT NOT NULL,           -- open, partial, answered, refused
    reminded INTEGER NOT NULL DEFAULT 0,
    overdue INTEGER NOT NULL DEFAULT 0,
    closed_at REAL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS thread (
    case_ref TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    request_id TEXT,
    envelope_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, envelope_id, recipient)
);
CREATE TABLE IF NOT EXISTS consents (
    release_request_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    owner_envelope_id TEXT NOT NULL,
    requested_for TEXT NOT NULL,
    asked_at REAL NOT NULL,
    granted_to TEXT,
    granted_at REAL
);
"""


_SELECT = (
    "SELECT request_id, role, requester, responder, case_ref, urgency, sent_at, "
    "received_at, deadline, status, reminded, overdue, closed_at, payload FROM requests "
)


@dataclass(frozen=True, kw_only=True)
class RequestRow:
    """One request as this agency knows it."""

    request_id: str
    role: str
    requester: str
    responder: str
    case_ref: str
    urgency: str
    sent_at: float | None
    received_at: float | None
    deadline: float | None
    status: str
    reminded: bool
    overdue: bool
    closed_at: float | None
    payload: bytes

    @property
    def is_open(self) -> bool:
        """No final reply and no refusal yet."""
        return self.status in ("open", "partial")


@dataclass(frozen=True, kw_only=True)
class ThreadEntry:
    """One message or event of a case thread."""

    case_ref: str
    at: float
    kind: str
    request_id: str | None
    envelope_id: str
    sender: str
    recipient: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class Consent:
    """A release this agency asked an originator for, and its grant if it came."""

    release_request_id: str
    request_id: str
    owner: str
    owner_envelope_id: str
    requested_for: list[str]
    granted_to: list[str] | None


class RequestStore:
    """SQLite state of the request workflow (see the module docstring)."""

    def __init__(self, *, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    def open(cls, path: Path) -> RequestStore:
        """Open (creating if needed) the store at ``path``."""
        try:
            db = open_wal(path, schema=_SCHEMA, busy_timeout_ms=10_000)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the request store", detail=str(path)) from exc
        return cls(connection=db)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with immediate(self._db) as db:
            yield db

    # -- requests ---------------------------------------------------------------------------

    def add_request(self, row: RequestRow) -> bool:
        """Remember a request (sent or received); False if it was known already."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    row.request_id,
                    row.role,
                    row.requester,
                    row.responder,
                    row.case_ref,
                    row.urgency,
                    row.sent_at,
                    row.received_at,
                    row.deadline,
                    row.status,
                    int(row.reminded),
                    int(row.overdue),
                    row.closed_at,
                    row.payload,
                ),
            )
        return cur.rowcount == 1

    def _rows(self, where: str = "", args: tuple[object, ...] = ()) -> list[RequestRow]:
        order = " ORDER BY coalesce(received_at, sent_at), request_id"
        rows = self._db.execute(_SELECT + where + order, args).fetchall()
        return [
            RequestRow(
                request_id=r[0],
                role=r[1],
                requester=r[2],
                responder=r[3],
                case_ref=r[4],
                urgency=r[5],
                sent_at=r[6],
                received_at=r[7],
                deadline=r[8],
                status=r[9],
                reminded=bool(r[10]),
                overdue=bool(r[11]),
                closed_at=r[12],
                payload=bytes(r[13]),
            )
            for r in rows
        ]

    def requests(self, *, role: str | None = None) -> list[RequestRow]:
        """Every request, oldest first; only ``sent`` or ``received`` ones if asked."""
        if role is None:
            return self._rows()
        return self._rows("WHERE role = ?", (role,))

    def get(self, request_id: str) -> RequestRow:
        """Return one request; :class:`UnknownRequestError` if this agency has none such."""
        rows = self._rows("WHERE request_id = ?", (request_id,))
        if not rows:
            raise UnknownRequestError(f"no request {request_id!r} known to this agency")
        return rows[0]

    def close_request(self, request_id: str, *, status: str, at: float) -> bool:
        """Mark a request answered/refused (or partial); False if it was closed already."""
        closing = status in ("answered", "refused")
        with self._tx() as db:
            cur = db.execute(
                "UPDATE requests SET status = ?, closed_at = CASE WHEN ? THEN ? ELSE closed_at END "
                "WHERE request_id = ? AND status IN ('open', 'partial')",
                (status, closing, at, request_id),
            )
        return cur.rowcount == 1

    def mark(self, request_id: str, *, stage: str) -> bool:
        """Set ``reminded`` or ``overdue`` once; True only the first time (exactly one event)."""
        column = {"REMINDER": "reminded", "OVERDUE": "overdue"}[stage]
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE requests SET {column} = 1 WHERE request_id = ? AND {column} = 0",  # noqa: S608 - column from a fixed map
                (request_id,),
            )
        return cur.rowcount == 1

    def learn_clock(self, request_id: str, *, received_at: float, deadline: float) -> None:
        """A sent request's router stamp and deadline, as a notice from the responder told."""
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET received_at = ?, deadline = ? WHERE request_id = ?",
                (received_at, deadline, request_id),
            )

    # -- threads ------------------------------------------------------------------------------

    def add_entry(self, entry: ThreadEntry) -> None:
        """Add a message or event to its case thread (idempotent)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO thread VALUES (?,?,?,?,?,?,?,?)",
                (
                    entry.case_ref,
                    entry.at,
                    entry.kind,
                    entry.request_id,
                    entry.envelope_id,
                    entry.sender,
                    entry.recipient,
                    entry.detail,
                ),
            )

    def thread(self, case_ref: str | None = None) -> list[ThreadEntry]:
        """Every thread entry (of one case), in time order."""
        query = (
            "SELECT case_ref, at, kind, request_id, envelope_id, sender, recipient, detail "
            "FROM thread"
        )
        args: tuple[str, ...] = ()
        if case_ref is not None:
            query += " WHERE case_ref = ?"
            args = (case_ref,)
        rows = self._db.execute(query + " ORDER BY at, rowid", args).fetchall()
        return [
            ThreadEntry(
                case_ref=r[0],
                at=r[1],
                kind=r[2],
                request_id=r[3],
                envelope_id=r[4],
                sender=r[5],
                recipient=r[6],
                detail=r[7],
            )
            for r in rows
        ]

    # -- consents -----------------------------------------------------------------------------

    def add_consent(self, consent: Consent, *, at: float) -> None:
        """Remember a release request sent to an originator."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO consents VALUES (?,?,?,?,?,?,NULL,NULL)",
                (
                    consent.release_request_id,
                    consent.request_id,
                    consent.owner,
                    consent.owner_envelope_id,
                    json.dumps(consent.requested_for),
                    at,
                ),
            )

    def grant(
        self, release_request_id: str, *, owner: str, release_to: list[str], at: float
    ) -> bool:
        """Record ``owner``'s grant; False unless we asked ``owner`` that very release."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE consents SET granted_to = ?, granted_at = ? "
                "WHERE release_request_id = ? AND owner = ?",
                (json.dumps(sorted(release_to)), at, release_request_id, owner),
            )
        return cur.rowcount == 1

    def consents(self) -> list[Consent]:
        """Every release asked for, with its grant if any."""
        rows = self._db.execute(
            "SELECT release_request_id, request_id, owner, owner_envelope_id, requested_for, "
            "granted_to FROM consents ORDER BY asked_at"
        ).fetchall()
        return [
            Consent(
                release_request_id=r[0],
                request_id=r[1],
                owner=r[2],
                owner_envelope_id=r[3],
                requested_for=json.loads(r[4]),
                granted_to=None if r[5] is None else json.loads(r[5]),
            )
            for r in rows
        ]
