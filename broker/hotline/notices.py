"""Takedown notices: signed, hash-only, chased every 24 hours until the content is gone.

Life cycle (each step one row of the hotline's notice book AND one audit event:
``AuditKind.NOTICE``, ``ref`` the notice, ``outcome`` the step, ``reason`` the provider)::

    ISSUED ──(still reported online, 24 h after the last send)──▶ RESENT ─┐ (repeat)
       │                                                                  │
       └──────────(a re-check the hotline records: offline)──▶ REMOVED ◀──┘
                                                                 │
       (the same hashes reported again, at ANY URL)──▶ REAPPEARED (on the removed notice)
                                                        + a new notice, ``reappearance_of``

Only a report with illegal items gets a notice, and the notice carries the hashes
of those items, never content (AWS's XARF intake: "URLs, hash values, and reference
identifiers only"). The notice is the Avro ``eu.fed.hotline.TakedownNotice``
signed by the hotline as ``eu.fed.hotline.SignedNotice`` over
``frame("fed-notice-v1", body)`` (Ed25519 and ML-DSA-65, context ``fed-notice-v1``);
:func:`verify_notice` checks it against the federation registry; docs/hotlines.md
specifies the bytes. :func:`broker.hotline.xarf.to_xarf` exports it as XARF v4.

Times come from the caller (``now``), so a re-check schedule can be replayed;
the audit events are stamped with the real clock.

Example::

    >>> book = NoticeBook.open(":memory:", issuer="HR-CNZD")
    >>> book.notices()
    []
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from broker import home
from broker._internal.framing import frame
from broker._internal.sqlite import immediate, open_wal
from broker.audit.events import AuditEvent, AuditKind
from broker.codec import SchemaStore
from broker.config import Settings
from broker.errors import NoticeError, SchemaError, SignatureError
from broker.hotline.report import UrlReport
from broker.trust import AgencyIdentity, TrustStore

__all__ = [
    "NOTICE_CONTEXT",
    "NOTICE_TAG",
    "RESEND_EVERY",
    "Notice",
    "NoticeBook",
    "book_path",
    "sign_notice",
    "verify_notice",
]

NOTICE_TAG = "fed-notice-v1"
NOTICE_CONTEXT = b"fed-notice-v1"
_BODY = "eu.fed.hotline.TakedownNotice"
_SIGNED = "eu.fed.hotline.SignedNotice"
#: Arachnid's rhythm: a notice is re-sent every 24 hours until the content is removed.
RESEND_EVERY = dt.timedelta(hours=24)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    notice_id TEXT PRIMARY KEY, report_id TEXT NOT NULL, url TEXT NOT NULL,
    host_country TEXT NOT NULL, provider TEXT NOT NULL, hashes TEXT NOT NULL,
    state TEXT NOT NULL, issued_at TEXT NOT NULL, last_sent_at TEXT NOT NULL,
    sends INTEGER NOT NULL, removed_at TEXT, reappearance_of TEXT, signed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notice_hashes (hash TEXT NOT NULL, notice_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notice_hashes_by_hash ON notice_hashes (hash);
CREATE TABLE IF NOT EXISTS reports (
    report_id TEXT PRIMARY KEY, sender TEXT NOT NULL, payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notice_steps (
    notice_id TEXT NOT NULL, at TEXT NOT NULL, step TEXT NOT NULL, detail TEXT
);
"""


def book_path(settings: Settings, agency: str) -> Path:
    """The hotline's notice book (kept reports, notices, their steps)."""
    return home.stream_state_dir(settings, agency) / "notices.db"


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One notice as the book holds it."""

    notice_id: str
    report_id: str
    url: str
    host_country: str
    provider: str
    hashes: tuple[str, ...]
    #: OPEN (issued or re-sent), REMOVED, or REAPPEARED (removed, then seen again).
    state: str
    issued_at: dt.datetime
    last_sent_at: dt.datetime
    sends: int
    removed_at: dt.datetime | None
    reappearance_of: str | None
    signed: bytes

    @property
    def time_to_removal(self) -> dt.timedelta | None:
        """From the first notice until the content was recorded offline."""
        return None if self.removed_at is None else self.removed_at - self.issued_at


def _t(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _notice(row: tuple[Any, ...]) -> Notice:
    (
        nid,
        rid,
        url,
        country,
        provider,
        hashes,
        state,
        issued,
        sent,
        sends,
        removed,
        again,
        signed,
    ) = row
    return Notice(
        notice_id=str(nid),
        report_id=str(rid),
        url=str(url),
        host_country=str(country),
        provider=str(provider),
        hashes=tuple(json.loads(str(hashes))),
        state=str(state),
        issued_at=dt.datetime.fromisoformat(str(issued)),
        last_sent_at=dt.datetime.fromisoformat(str(sent)),
        sends=int(str(sends)),
        removed_at=_t(None if removed is None else str(removed)),
        reappearance_of=None if again is None else str(again),
        signed=bytes(signed),
    )


def sign_notice(
    report: UrlReport,
    *,
    identity: AgencyIdentity,
    notice_id: str,
    now: dt.datetime,
    reappearance_of: str | None,
) -> tuple[bytes, list[str]]:
    """Return the signed notice of ``report``'s illegal items, and their hashes."""
    illegal = [m for m in report.media if m.classification != "NOT_ILLEGAL"]
    if not illegal:
        raise NoticeError("no notice for a report with nothing illegal", detail=report.report_id)
    hashes = sorted({h for m in illegal for h in m.hashes})
    store = SchemaStore.default()
    body = store.encode(
        _BODY,
        {
            "notice_id": notice_id,
            "issuer": identity.agency,
            "key_id": identity.signing.key_id,
            "issued_at": now,
            "report_id": report.report_id,
            "url": report.url,
            "host_country": report.host_country,
            "hosting_provider": report.hosting_provider,
            "hashes": hashes,
            "classification": report.classification,
            "category": next((m.category for m in illegal if m.category), None),
            "reappearance_of": reappearance_of,
        },
    )
    message = frame(NOTICE_TAG, body)
    signed = store.encode(
        _SIGNED,
        {
            "body": body,
            "ed25519": identity.signing.ed25519.sign(message),
            "ml_dsa_65": identity.signing.ml_dsa_65.sign(message, context=NOTICE_CONTEXT),
        },
    )
    return signed, hashes


def verify_notice(data: bytes, *, trust: TrustStore) -> dict[str, object]:
    """Verify a signed notice against the registry; return its body record.

    Raises :class:`SignatureError` if it does not decode or a signature fails, or a
    :class:`TrustError` if the issuer's key was not valid when it was issued.
    """
    store = SchemaStore.default()
    try:
        signed = store.decode(_SIGNED, data)
        rec: dict[str, object] = store.decode(_BODY, signed["body"])
    except SchemaError as exc:
        raise SignatureError("malformed signed notice", detail=str(exc)) from exc
    issued_at = rec["issued_at"]
    assert isinstance(issued_at, dt.datetime)  # noqa: S101 - the schema's timestamp-millis
    keys = trust.signing_key(agency=str(rec["issuer"]), key_id=str(rec["key_id"]), at=issued_at)
    message = frame(NOTICE_TAG, signed["body"])
    try:
        keys.ed25519.verify(signed["ed25519"], message)
        keys.ml_dsa_65.verify(signed["ml_dsa_65"], message, context=NOTICE_CONTEXT)
    except InvalidSignature:
        raise SignatureError(
            "notice signature does not verify", detail=str(rec["notice_id"])
        ) from None
    return rec


class NoticeBook:
    """A hotline's notices and their life cycle (SQLite; every step also audited)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        issuer: str,
        audit: Callable[[AuditEvent], None] | None = None,
    ) -> None:
        self._db = db
        self.issuer = issuer
        self._audit = audit

    @classmethod
    def open(
        cls, path: Path | str, *, issuer: str, audit: Callable[[AuditEvent], None] | None = None
    ) -> NoticeBook:
        """Open (creating) the book at ``path`` (``":memory:"`` for a throw-away one)."""
        if str(path) == ":memory:":
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.executescript(_SCHEMA)
        else:
            db = open_wal(Path(path), schema=_SCHEMA, busy_timeout_ms=10_000)
        return cls(db, issuer=issuer, audit=audit)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _step(
        self, notice_id: str, step: str, provider: str, now: dt.datetime, detail: str | None = None
    ) -> None:
        self._db.execute(
            "INSERT INTO notice_steps VALUES (?, ?, ?, ?)",
            (notice_id, now.isoformat(), step, detail),
        )
        if self._audit is not None:
            self._audit(
                AuditEvent.new(
                    AuditKind.NOTICE,
                    actor=self.issuer,
                    parties=[self.issuer],
                    ref=notice_id,
                    outcome=step,
                    reason=provider,
                )
            )

    def issue(self, report: UrlReport, *, identity: AgencyIdentity, now: dt.datetime) -> Notice:
        """Issue a signed notice for ``report``'s illegal items (a reappearance if already removed).

        Issuing again for the same report returns the existing notice.
        """
        if identity.agency != self.issuer:
            raise NoticeError("only the book's hotline issues", detail=identity.agency)
        existing = self._db.execute(
            "SELECT * FROM notices WHERE report_id = ?", (report.report_id,)
        ).fetchone()
        if existing is not None:
            return _notice(existing)
        illegal = [m for m in report.media if m.classification != "NOT_ILLEGAL"]
        earlier = self._removed_with(sorted({h for m in illegal for h in m.hashes}))
        notice_id = uuid.uuid4().hex
        signed, hashes = sign_notice(
            report,
            identity=identity,
            notice_id=notice_id,
            now=now,
            reappearance_of=earlier[0] if earlier else None,
        )
        with immediate(self._db):
            self._db.execute(
                "INSERT INTO notices VALUES (?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, 1, NULL, ?, ?)",
                (
                    notice_id,
                    report.report_id,
                    report.url,
                    report.host_country,
                    report.hosting_provider,
                    json.dumps(hashes),
                    now.isoformat(),
                    now.isoformat(),
                    earlier[0] if earlier else None,
                    signed,
                ),
            )
            self._db.executemany(
                "INSERT INTO notice_hashes VALUES (?, ?)", [(h, notice_id) for h in hashes]
            )
            for old in earlier:
                self._db.execute(
                    "UPDATE notices SET state = 'REAPPEARED' WHERE notice_id = ?", (old,)
                )
                self._step(old, "REAPPEARED", self._provider(old), now, detail=f"at {report.url}")
            self._step(notice_id, "ISSUED", report.hosting_provider, now)
        return self.get(notice_id)

    def keep(self, report: UrlReport, *, sender: str) -> bool:
        """Keep a report (received, or our own) for notices; return False if already kept."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO reports VALUES (?, ?, ?)",
            (report.report_id, sender, report.to_bytes()),
        )
        return cur.rowcount == 1

    def reports(self) -> list[UrlReport]:
        """Return every kept report, in the order kept."""
        rows = self._db.execute("SELECT payload FROM reports ORDER BY rowid")
        return [UrlReport.from_bytes(bytes(r[0])) for r in rows]

    def report(self, report_id: str) -> UrlReport:
        """Return one kept report; raise NoticeError if there is none."""
        row = self._db.execute(
            "SELECT payload FROM reports WHERE report_id = ?", (report_id,)
        ).fetchone()
        if row is None:
            raise NoticeError("no such report kept", detail=report_id)
        return UrlReport.from_bytes(bytes(row[0]))

    def unnoticed(self) -> list[UrlReport]:
        """Return kept reports with illegal items and no notice yet."""
        rows = self._db.execute(
            "SELECT payload FROM reports WHERE report_id NOT IN (SELECT report_id FROM notices) "
            "ORDER BY rowid"
        )
        return [r for r in (UrlReport.from_bytes(bytes(x[0])) for x in rows) if r.illegal]

    def _removed_with(self, hashes: Iterable[str]) -> list[str]:
        """Notices already REMOVED that share a hash with ``hashes`` (re-upload detection)."""
        marks = ",".join("?" for _ in hashes)
        if not marks:
            return []
        rows = self._db.execute(
            f"SELECT DISTINCT n.notice_id FROM notice_hashes h JOIN notices n USING (notice_id) "  # noqa: S608 - placeholders only
            f"WHERE h.hash IN ({marks}) AND n.state = 'REMOVED' ORDER BY n.issued_at",
            tuple(hashes),
        )
        return [str(r[0]) for r in rows]

    def _provider(self, notice_id: str) -> str:
        return self.get(notice_id).provider

    def get(self, notice_id: str) -> Notice:
        """Return one notice; raise NoticeError if there is none."""
        row = self._db.execute("SELECT * FROM notices WHERE notice_id = ?", (notice_id,)).fetchone()
        if row is None:
            raise NoticeError("no such notice", detail=notice_id)
        return _notice(row)

    def notices(self) -> list[Notice]:
        """Return every notice, oldest first."""
        return [_notice(r) for r in self._db.execute("SELECT * FROM notices ORDER BY issued_at")]

    def steps(self, notice_id: str) -> list[tuple[dt.datetime, str, str | None]]:
        """Return ``(at, step, detail)`` of every step of a notice, in order."""
        rows = self._db.execute(
            "SELECT at, step, detail FROM notice_steps WHERE notice_id = ? ORDER BY rowid",
            (notice_id,),
        )
        return [(dt.datetime.fromisoformat(a), str(s), d) for a, s, d in rows]

    def recheck(self, notice_id: str, *, online: bool, now: dt.datetime) -> Notice:
        """Record a re-check: offline closes the notice (REMOVED); online re-sends it if due."""
        notice = self.get(notice_id)
        if notice.state != "OPEN":
            raise NoticeError(f"notice is {notice.state}, not open", detail=notice_id)
        with immediate(self._db):
            if not online:
                self._db.execute(
                    "UPDATE notices SET state = 'REMOVED', removed_at = ? WHERE notice_id = ?",
                    (now.isoformat(), notice_id),
                )
                self._step(notice_id, "REMOVED", notice.provider, now)
            elif now - notice.last_sent_at >= RESEND_EVERY:
                self._resend(notice, now)
        return self.get(notice_id)

    def _resend(self, notice: Notice, now: dt.datetime) -> None:
        self._db.execute(
            "UPDATE notices SET last_sent_at = ?, sends = sends + 1 WHERE notice_id = ?",
            (now.isoformat(), notice.notice_id),
        )
        self._step(notice.notice_id, "RESENT", notice.provider, now)

    def resend_due(self, now: dt.datetime) -> list[str]:
        """Re-send every open notice last sent 24 hours or more ago; return their ids."""
        due = [
            n for n in self.notices() if n.state == "OPEN" and now - n.last_sent_at >= RESEND_EVERY
        ]
        with immediate(self._db):
            for n in due:
                self._resend(n, now)
        return [n.notice_id for n in due]
