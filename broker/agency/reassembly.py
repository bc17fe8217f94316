"""Receiving streamed dossiers: parts stored as they arrive, assembled on the manifest.

Part records (:mod:`broker.envelope.stream`) are stored, ciphertext as received, in
SQLite (``<state db>-streams.db``) the moment they are consumed, before the inbox
offset is committed: a restart loses none. Re-delivery of the same Kafka record is
idempotent; another record for an index already stored is ``duplicate-part``.

When the manifest envelope arrives (verified and opened by the inbox like any
envelope), :meth:`Reassembly.assemble` checks, in one streaming pass over the
stored parts in index order: count, every index once, the final flag on the last
part only, each part's AEAD (STREAM nonces bind index and final flag; the AAD binds
envelope id and sender), the chain root signed in the manifest, the sizes and the
sections (every media reference validated). Only then does the handler get a
:class:`StreamedDossier`, whose :meth:`~StreamedDossier.media_stream` re-reads the
parts as an iterator: memory does not grow with the dossier. The re-read decrypts
again (AES-GCM: about 1% of the cost, and the plaintext never lands on disk) but
does not validate again: each reference was validated once, and the AEAD of every
part and the chain root prove the bytes re-read are the ones validated.

**Clean-up.** Once the handler has had the dossier and the agency store has
committed it handled (:meth:`Reassembly.release`, called by the inbox after
:meth:`~broker.agency.store.AgencyStore.handled`), the parts' ciphertext is
deleted; each part's position stays (a few bytes) so a re-delivered part record is
still told from a duplicate. A crash between the two commits leaves the parts of a
handled dossier; :meth:`Reassembly.release_handled` drops them at the next start.
Until the store says handled they stay: a crash while the handler runs hands the
dossier over again, from the parts, at start-up.

A dossier whose manifest does not come within ``timeout`` seconds of its first part
is given up: :meth:`Reassembly.overdue` returns it, and the inbox dead-letters it
with reason ``incomplete`` and sends a REJECTED receipt.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pydantic

from broker._internal.sqlite import immediate, open_wal
from broker.agency.overdue import GiveUp, Gone
from broker.agency.publisher import Publisher
from broker.agency.readback import read_sections
from broker.agency.results import ConsumeStats
from broker.agency.store import AgencyStore
from broker.agency.streamed import StreamedDossier
from broker.audit.writer import AuditSink
from broker.envelope import MAX_ENVELOPE_BYTES, OpenedEnvelope
from broker.envelope.stream import (
    DEFAULT_MAX_DOSSIER_BYTES,
    PART_SIZE,
    Part,
    is_part,
)
from broker.errors import (
    ConfigError,
    DossierTooLargeError,
    DuplicatePartError,
    Error,
    IncompleteDossierError,
    NotARecipientError,
    PartMismatchError,
    ReplayError,
    SchemaError,
    ValidationError,
)
from broker.models.streamed import Manifest, MediaItemReader, Section
from broker.topics import TopicLayout

__all__ = ["DEFAULT_STREAM_TIMEOUT", "Reassembly"]

#: Seconds a dossier's parts wait for its manifest before it is given up (``incomplete``).
DEFAULT_STREAM_TIMEOUT = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    sender TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    recipients TEXT NOT NULL,
    first_at REAL NOT NULL,
    bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_where TEXT NOT NULL,
    PRIMARY KEY (sender, envelope_id)
);
CREATE TABLE IF NOT EXISTS parts (
    sender TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    record BLOB NOT NULL,
    position TEXT NOT NULL,
    PRIMARY KEY (sender, envelope_id, idx)
);
"""


class Reassembly:
    """One agency's store of streamed parts (see the module docstring)."""

    def __init__(
        self,
        *,
        path: Path,
        agency: str,
        max_record_bytes: int = MAX_ENVELOPE_BYTES,
        max_dossier_bytes: int = DEFAULT_MAX_DOSSIER_BYTES,
        timeout: float = DEFAULT_STREAM_TIMEOUT,
    ) -> None:
        try:
            self._db = open_wal(path, schema=_SCHEMA, busy_timeout_ms=10_000)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the stream store", detail=str(path)) from exc
        self.agency = agency
        self.max_record_bytes = max_record_bytes
        self.max_dossier_bytes = max_dossier_bytes
        self.timeout = timeout
        self._next_sweep = 0.0
        self._assembled: dict[tuple[str, str], int] = {}
        # Assembled by this process and not yet released (release() looks only at these).
        self._held: set[tuple[str, str]] = set()
        self._give_up_sink: GiveUp | None = None

    @classmethod
    def beside(
        cls, store: AgencyStore, *, publisher: Publisher, layout: TopicLayout, audit: AuditSink
    ) -> Reassembly:
        """Open the stream store next to ``store`` for the inbox of ``publisher``'s agency."""
        path = store.path.with_name(store.path.stem + "-streams.db")
        out = cls(path=path, agency=publisher.agency)
        out._give_up_sink = GiveUp(publisher=publisher, layout=layout, audit=audit)
        return out

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- the inbox's hooks --------------------------------------------------------------------

    def take(self, record: Any) -> bool:
        """Store ``record`` if it is a part record (True), else leave it (False).

        A part that is refused raises its error; the inbox dead-letters it.
        """
        value: bytes = record.value or b""
        if not is_part(value):
            return False
        self.take_part(value, where=f"{record.topic}/{record.partition}/{record.offset}")
        return True

    def dossier(self, opened: OpenedEnvelope) -> StreamedDossier | None:
        """Return the verified streamed dossier if ``opened`` is a manifest, else None.

        The manifest of a dossier already handed over and released is a replay.
        """
        header = opened.header
        if header.payload_fingerprint != Manifest.fingerprint():
            return None
        row = self._db.execute(
            "SELECT state FROM streams WHERE sender = ? AND envelope_id = ?",
            (header.sender, header.envelope_id),
        ).fetchone()
        if row is not None and row[0] == "delivered":
            raise ReplayError(
                "envelope already received",
                detail=f"envelope {header.envelope_id} from {header.sender} seen before",
            )
        return self.assemble(opened)

    def release(self, keys: Iterable[tuple[str, str]]) -> None:
        """Delete the parts of the dossiers ``keys`` (sender, id) that were handled.

        Call only after the agency store committed them handled: until then a crash
        must find the parts to hand the dossier over again. Keys of other envelopes
        cost nothing (only dossiers this process assembled are looked at).
        """
        mine = [k for k in keys if k in self._held]
        if not mine:
            return
        with self._transaction() as db:
            for sender, envelope_id in mine:
                db.execute(
                    "UPDATE parts SET record = x'' WHERE sender = ? AND envelope_id = ?",
                    (sender, envelope_id),
                )
                db.execute(
                    "UPDATE streams SET state = 'delivered' WHERE sender = ? AND envelope_id = ?",
                    (sender, envelope_id),
                )
        self._held.difference_update(mine)

    def release_handled(
        self, handled: Callable[[list[tuple[str, str]]], set[tuple[str, str]]]
    ) -> int:
        """Release every assembled dossier that ``handled`` says is handled; return how many.

        At start-up, after the pending deliveries were handed over: a crash between the
        store's commit and :meth:`release` left these parts behind.
        """
        rows = self._db.execute("SELECT sender, envelope_id FROM streams WHERE state = 'done'")
        done = handled([(str(r[0]), str(r[1])) for r in rows.fetchall()])
        self._held.update(done)
        self.release(done)
        return len(done)

    def ref(self, opened: OpenedEnvelope) -> str | None:
        """Return ``parts:N`` for the OPEN event of a streamed dossier just assembled."""
        count = self._assembled.pop((opened.header.sender, opened.header.envelope_id), None)
        return None if count is None else f"parts:{count}"

    async def sweep(self, stats: ConsumeStats, *, send_receipts: bool) -> None:
        """Give up overdue dossiers: dead letter ``incomplete``, REJECT audit, REJECTED receipt."""
        gone = self.overdue()
        if gone and self._give_up_sink is not None:
            await self._give_up_sink.give_up(gone, stats, send_receipts=send_receipts)

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._db)

    # -- parts ------------------------------------------------------------------------------

    def take_part(self, value: bytes, *, where: str) -> None:
        """Store one part record (consumed at ``where``); raise the reason it is refused."""
        part = Part.from_bytes(value, max_bytes=self.max_record_bytes)
        if self.agency not in part.recipients:
            raise NotARecipientError("part rejected", detail=f"{self.agency} not a recipient")
        limit = self.max_dossier_bytes + (self.max_dossier_bytes // PART_SIZE + 1) * 16
        with self._transaction() as db:
            row = db.execute(
                "SELECT recipients, bytes, state FROM streams WHERE sender = ? AND envelope_id = ?",
                (part.sender, part.envelope_id),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO streams VALUES (?, ?, ?, ?, 0, 'open', ?)",
                    (
                        part.sender,
                        part.envelope_id,
                        json.dumps(part.recipients),
                        time.time(),
                        where,
                    ),
                )
            stored = db.execute(
                "SELECT position FROM parts WHERE sender = ? AND envelope_id = ? AND idx = ?",
                (part.sender, part.envelope_id, part.index),
            ).fetchone()
            if stored is not None and stored[0] == where:
                return  # the same record delivered again after a crash: already stored
            if row is not None and row[2] != "open":
                raise DuplicatePartError(
                    "part rejected", detail=f"dossier {part.envelope_id} already {row[2]}"
                )
            if row is not None and json.loads(row[0]) != part.recipients:
                raise PartMismatchError("part rejected", detail="recipients differ between parts")
            if stored is not None:
                raise DuplicatePartError(
                    "part rejected", detail=f"part {part.index} already stored from {stored[0]}"
                )
            total = (row[1] if row else 0) + len(part.ciphertext)
            if total > limit:
                raise DossierTooLargeError(
                    f"dossier larger than the maximum dossier size of {self.max_dossier_bytes} "
                    "bytes (max_dossier_bytes)",
                    detail=f"dossier {part.envelope_id} from {part.sender}",
                )
            db.execute(
                "INSERT INTO parts VALUES (?, ?, ?, ?, ?)",
                (part.sender, part.envelope_id, part.index, bytes(value), where),
            )
            db.execute(
                "UPDATE streams SET bytes = ?, last_where = ? WHERE sender = ? AND envelope_id = ?",
                (total, where, part.sender, part.envelope_id),
            )

    def _records(self, sender: str, envelope_id: str) -> Iterator[tuple[int, bytes]]:
        # One row at a time: memory stays at one part whatever the dossier's size.
        last = -1
        while True:
            row = self._db.execute(
                "SELECT idx, record FROM parts WHERE sender = ? AND envelope_id = ? AND idx > ? "
                "ORDER BY idx LIMIT 1",
                (sender, envelope_id, last),
            ).fetchone()
            if row is None:
                return
            last = int(row[0])
            yield last, bytes(row[1])

    # -- the manifest -----------------------------------------------------------------------

    def assemble(self, opened: OpenedEnvelope) -> StreamedDossier:
        """Check the stored parts against the opened manifest; return the verified dossier.

        On any failure the dossier's parts are dropped and the stream marked rejected
        (later parts of it are ``duplicate-part``), and the error is raised.
        """
        header = opened.header
        try:
            streamed = self._assemble(opened)
        except Error:
            self._give_up(header.sender, header.envelope_id, "rejected")
            raise
        with self._transaction() as db:
            db.execute(
                "UPDATE streams SET state = 'done' WHERE sender = ? AND envelope_id = ?",
                (header.sender, header.envelope_id),
            )
        self._assembled[(header.sender, header.envelope_id)] = streamed.part_count
        self._held.add((header.sender, header.envelope_id))
        return streamed

    def _assemble(self, opened: OpenedEnvelope) -> StreamedDossier:
        header = opened.header
        try:
            manifest = Manifest.from_bytes(opened.payload)
        except SchemaError:
            raise ValidationError("manifest undecodable", problems=[("(root)", "schema")]) from None
        if manifest.total_bytes > self.max_dossier_bytes:
            raise DossierTooLargeError(
                f"dossier larger than the maximum dossier size of {self.max_dossier_bytes} bytes "
                "(max_dossier_bytes)",
                detail=f"manifest says {manifest.total_bytes} bytes",
            )
        if (
            manifest.part_size != PART_SIZE
            or manifest.part_count < 1
            or sum(s.bytes for s in manifest.sections) != manifest.total_bytes
        ):
            raise PartMismatchError("manifest rejected", detail="part size, count or sections")
        row = self._db.execute(
            "SELECT COUNT(*) FROM parts WHERE sender = ? AND envelope_id = ?",
            (header.sender, header.envelope_id),
        ).fetchone()
        stored = int(row[0])
        if stored < manifest.part_count:
            raise IncompleteDossierError(
                "dossier incomplete", detail=f"{stored} of {manifest.part_count} parts arrived"
            )
        if stored > manifest.part_count:
            raise PartMismatchError(
                "dossier rejected", detail=f"{stored} parts for {manifest.part_count}"
            )
        try:
            dossier = manifest.small_dossier()
        except pydantic.ValidationError as exc:
            problems = [(str(e["loc"]), e["type"]) for e in exc.errors(include_input=False)]
            raise ValidationError("payload does not validate", problems=problems) from None
        # One verifying pass: every part decrypts, the chain matches, every item validates.
        media = 0
        for section, chunks in self.sections(opened, manifest):
            reader = MediaItemReader()
            for chunk in chunks:
                if section.kind == "MEDIA":
                    for _ in reader.feed(chunk):
                        media += 1
            if section.kind == "MEDIA" and (reader.pending or reader.count != section.items):
                raise ValidationError(
                    "media section does not match the manifest",
                    problems=[("sections", "items")],
                )
        return StreamedDossier.of(dossier, manifest=manifest, read=self, opened=opened)

    def sections(
        self, opened: OpenedEnvelope, manifest: Manifest
    ) -> Iterator[tuple[Section, Iterator[bytes]]]:
        """Yield each section with an iterator of its plaintext (:func:`read_sections`)."""
        header = opened.header
        records = (r for _, r in self._records(header.sender, header.envelope_id))
        return read_sections(records, opened, manifest, max_record_bytes=self.max_record_bytes)

    # -- giving up --------------------------------------------------------------------------

    def erase(self, sender: str, envelope_id: str) -> int:
        """Erase a recalled (or expired) streamed dossier's parts; return how many went."""
        with self._transaction() as db:
            gone = db.execute(
                "DELETE FROM parts WHERE sender = ? AND envelope_id = ?", (sender, envelope_id)
            ).rowcount
            db.execute(
                "UPDATE streams SET state = 'erased' WHERE sender = ? AND envelope_id = ?",
                (sender, envelope_id),
            )
        return gone

    def _give_up(self, sender: str, envelope_id: str, state: str) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM parts WHERE sender = ? AND envelope_id = ?", (sender, envelope_id)
            )
            db.execute(
                "INSERT INTO streams VALUES (?, ?, '[]', ?, 0, ?, '') "
                "ON CONFLICT(sender, envelope_id) DO UPDATE SET state = excluded.state",
                (sender, envelope_id, time.time(), state),
            )

    def overdue(self, *, now: float | None = None) -> list[Gone]:
        """Give up every dossier whose first part is older than ``timeout``; return them.

        Looks at most once a second (the inbox calls it on every idle poll).
        """
        at = time.time() if now is None else now
        if now is None and at < self._next_sweep:
            return []
        self._next_sweep = at + 1.0
        rows = self._db.execute(
            "SELECT sender, envelope_id, last_where FROM streams "
            "WHERE state = 'open' AND first_at < ?",
            (at - self.timeout,),
        ).fetchall()
        out = []
        for sender, envelope_id, where in rows:
            last = self._db.execute(
                "SELECT record FROM parts WHERE sender = ? AND envelope_id = ? "
                "ORDER BY idx DESC LIMIT 1",
                (sender, envelope_id),
            ).fetchone()
            self._give_up(sender, envelope_id, "incomplete")
            out.append(
                Gone(
                    sender=sender,
                    envelope_id=envelope_id,
                    where=where,
                    last_part=bytes(last[0]) if last else b"",
                )
            )
        return out
