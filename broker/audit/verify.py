"""Replay-verify audit streams: every way to tamper with them is a named finding.

:class:`AuditVerifier` is fed raw records (:class:`RawRecord`: exact value
bytes plus where they were read) from Kafka or from an export, in log order, and
checks:

* **decoding** — single-object Avro with a known ``AuditEvent`` or
  ``AuditCheckpoint`` fingerprint, else ``undecodable``;
* **sequence** — per stream, gap-free from 0: a gap is ``deleted`` (reported at
  the end if the missing events never show up), a number arriving after a later
  one is ``reordered``, a repeated number with other bytes is ``injected``
  (byte-identical repeats are a writer's retry and only counted);
* **chain** — ``prev_leaf_hash`` must be the previous event's leaf: the first
  event after a modified one names it (``modified``);
* **checkpoints** — the note must verify with the stream's root-certified audit
  key (``forged-checkpoint``), and the RFC 9162 root recomputed at its size must
  match (``root-mismatch``); two checkpoints of one size with different roots are
  a ``fork``;
* **truncation** — the newest checkpoint known outside the broker (and every
  checkpoint in the log) must not be larger than the stream (``truncated``);
* **semantic rules** (:mod:`broker.audit.rules`).

Events after a stream's last checkpoint are reported as not yet anchored.

Example::

    verifier = AuditVerifier(keys=load_audit_keys(settings))
    for record in records:
        verifier.feed(record)
    report = verifier.finish(external=[note_bytes])
    print(report.ok, report.findings)
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import fastavro

from broker import merkle
from broker.audit.checkpoint import open_checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, EVENT_SCHEMA, AuditEvent, origin_for
from broker.audit.findings import AuditReport, Finding, FindingKind, RawRecord
from broker.audit.note import NoteKeyVerifier
from broker.audit.rules import RuleBook
from broker.audit.signers import NoteVerifier
from broker.codec import SchemaStore
from broker.errors import AuditError, SchemaError

__all__ = ["AuditVerifier", "StreamState"]

_HASH = merkle.HASH_SIZE


@dataclass
class _Checkpoint:
    size: int
    root: bytes
    where: str
    note: bytes


@dataclass
class StreamState:
    """What the verifier knows about one stream."""

    stream: str
    leaves: bytearray = field(default_factory=bytearray)
    where: dict[int, RawRecord] = field(default_factory=dict)
    missing: dict[int, RawRecord] = field(default_factory=dict)
    checkpoints: dict[int, _Checkpoint] = field(default_factory=dict)
    retries: int = 0

    @property
    def size(self) -> int:
        """Events seen (including holes still missing)."""
        return len(self.leaves) // _HASH

    def leaf(self, seq: int) -> bytes:
        """The leaf hash at ``seq``."""
        return bytes(self.leaves[seq * _HASH : (seq + 1) * _HASH])

    def leaf_hashes(self, size: int, start: int = 0) -> list[bytes]:
        """The leaf hashes ``start <= seq < size``."""
        data = self.leaves
        return [bytes(data[i : i + _HASH]) for i in range(start * _HASH, size * _HASH, _HASH)]

    def at(self, seq: int) -> str | None:
        """Where the event ``seq`` was read (``partition:offset``)."""
        record = self.where.get(seq)
        return record.where if record else None


class AuditVerifier:
    """Streaming verifier over raw audit records (see the module docstring)."""

    def __init__(
        self,
        *,
        keys: Mapping[str, NoteVerifier],
        rules: bool = True,
        witnesses: Sequence[NoteKeyVerifier] = (),
        quorum: int = 0,
    ) -> None:
        self._keys = dict(keys)
        #: Checkpoints known outside the broker must carry ``quorum`` of these cosignatures.
        self._witnesses = list(witnesses)
        self._quorum = quorum
        self._store = SchemaStore.default()
        self._event_fps = self._fingerprints(EVENT_SCHEMA)
        self._checkpoint_fps = self._fingerprints(CHECKPOINT_SCHEMA)
        self._event_reader = self._store.fast_schema(EVENT_SCHEMA)
        self._current_event_fp = self._store.fingerprint(EVENT_SCHEMA)
        self.streams: dict[str, StreamState] = {}
        self.report = AuditReport()
        self.rules = RuleBook() if rules else None
        #: Decoded events kept for proofs and trails when asked (off for plain verification).
        self.keep_events = False
        self.events: list[tuple[AuditEvent, RawRecord]] = []

    def _fingerprints(self, name: str) -> set[bytes]:
        store = self._store
        return {fp for fp, _ in store.writers_for(name)}

    def _find(
        self,
        kind: FindingKind,
        detail: str,
        *,
        stream: str | None = None,
        where: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.report.findings.append(
            Finding(kind=kind, stream=stream, where=where, seq=seq, detail=detail)
        )

    def _state(self, stream: str, where: str) -> StreamState:
        state = self.streams.get(stream)
        if state is None:
            if stream not in self._keys:
                self._find(
                    FindingKind.UNKNOWN_STREAM,
                    "no root-certified audit key for this stream: its records are not trusted",
                    stream=stream,
                    where=where,
                )
            state = self.streams[stream] = StreamState(stream=stream)
        return state

    # -- feeding ------------------------------------------------------------------------

    def feed_all(self, records: Iterable[RawRecord]) -> None:
        """Feed every record in order."""
        for record in records:
            self.feed(record)

    def feed(self, record: RawRecord) -> None:
        """Check one record."""
        self.report.records += 1
        value = record.value
        fp = value[2:10] if len(value) >= 10 and value[:2] == b"\xc3\x01" else b""
        if fp in self._event_fps:
            self._feed_event(record, fp)
        elif fp in self._checkpoint_fps:
            self._feed_checkpoint(record)
        else:
            self._find(
                FindingKind.UNDECODABLE,
                "not an audit event or checkpoint (unknown encoding or schema fingerprint)",
                where=record.where,
            )

    def _decode_event(self, record: RawRecord, fp: bytes) -> dict[str, Any] | None:
        try:
            if fp != self._current_event_fp:
                return self._store.decode(EVENT_SCHEMA, record.value)
            body = io.BytesIO(memoryview(record.value)[10:])
            rec = fastavro.schemaless_reader(
                body, self._event_reader, None, return_record_name=False
            )
            trailing = body.tell() != len(record.value) - 10
        except (SchemaError, ValueError, EOFError, TypeError, IndexError) as exc:
            self._find(FindingKind.UNDECODABLE, f"event does not decode: {exc}", where=record.where)
            return None
        if trailing or not isinstance(rec, dict):
            self._find(
                FindingKind.UNDECODABLE, "trailing bytes after the event", where=record.where
            )
            return None
        return rec

    def _feed_event(self, record: RawRecord, fp: bytes) -> None:
        rec = self._decode_event(record, fp)
        if rec is None:
            return
        self.report.events += 1
        stream, seq = rec["stream"], rec["seq"]
        if record.key is not None and record.key != stream.encode():
            self._find(
                FindingKind.INJECTED,
                f"record key {record.key!r} does not name the event's stream",
                stream=stream,
                where=record.where,
                seq=seq,
            )
        state = self._state(stream, record.where)
        leaf = merkle.leaf_hash(record.value)
        expected = state.size
        if seq == expected:
            state.leaves += leaf
            state.where[seq] = record
        elif seq > expected:
            for gap in range(expected, seq):
                state.missing[gap] = record
            state.leaves += bytes(_HASH) * (seq - expected) + leaf
            state.where[seq] = record
        elif seq < 0:
            self._find(
                FindingKind.INJECTED, "negative sequence number", stream=stream, where=record.where
            )
            return
        elif seq in state.missing:
            del state.missing[seq]
            state.leaves[seq * _HASH : (seq + 1) * _HASH] = leaf
            state.where[seq] = record
            self._find(
                FindingKind.REORDERED,
                f"sequence {seq} arrived after sequence {expected - 1}",
                stream=stream,
                where=record.where,
                seq=seq,
            )
        elif state.leaf(seq) == leaf:
            state.retries += 1  # the writer re-published identical bytes after a crash
            return
        else:
            self._find(
                FindingKind.INJECTED,
                f"a second, different event with sequence {seq} (first at {state.at(seq)})",
                stream=stream,
                where=record.where,
                seq=seq,
            )
            return
        self._check_chain(state, rec, seq)
        if self.rules is not None:
            self.rules.add(rec, record)
        if self.keep_events:
            self.events.append((AuditEvent.from_avro(rec), record))

    def _check_chain(self, state: StreamState, rec: dict[str, Any], seq: int) -> None:
        prev: bytes = rec["prev_leaf_hash"]
        if seq == 0:
            ok = prev == b""
        elif seq - 1 in state.missing:
            return  # the gap is reported on its own
        else:
            ok = prev == state.leaf(seq - 1)
        if not ok:
            self._find(
                FindingKind.MODIFIED,
                f"the event before (sequence {seq - 1}) is not the one the next event "
                f"(at {state.at(seq)}) was chained to: it was modified or replaced",
                stream=state.stream,
                where=state.at(seq - 1),
                seq=seq - 1,
            )

    def _feed_checkpoint(self, record: RawRecord) -> None:
        where = record.where
        try:
            rec = self._store.decode(CHECKPOINT_SCHEMA, record.value)
        except SchemaError as exc:
            self._find(FindingKind.UNDECODABLE, f"checkpoint does not decode: {exc}", where=where)
            return
        self.report.checkpoints += 1
        stream: str = rec["stream"]
        state = self._state(stream, where)
        checkpoint = self.open_note(stream, rec["note"], where=where)
        if checkpoint is None:
            return
        self._add_checkpoint(state, checkpoint)

    def open_note(
        self, stream: str, note: bytes, *, where: str, witnessed: bool = False
    ) -> _Checkpoint | None:
        """Verify a checkpoint note of ``stream``; record a finding and return None if bad.

        ``witnessed`` notes must also carry the verifier's witness quorum.
        """
        key = self._keys.get(stream)
        if key is None:
            return None
        try:
            signed = open_checkpoint(
                note,
                log=key,
                origin=origin_for(stream),
                witnesses=self._witnesses if witnessed else (),
                quorum=self._quorum if witnessed else 0,
            )
        except AuditError as exc:
            self._find(
                FindingKind.FORGED_CHECKPOINT,
                f"checkpoint note does not verify (stream's audit key, witnesses): {exc.message}",
                stream=stream,
                where=where,
            )
            return None
        cp = signed.checkpoint
        return _Checkpoint(size=cp.size, root=cp.root, where=where, note=note)

    def _add_checkpoint(self, state: StreamState, cp: _Checkpoint) -> None:
        seen = state.checkpoints.get(cp.size)
        if seen is None:
            state.checkpoints[cp.size] = cp
        elif seen.root != cp.root:
            self._find(
                FindingKind.FORK,
                f"two signed checkpoints for size {cp.size} with different roots "
                f"(at {seen.where} and {cp.where}): the writer showed two histories",
                stream=state.stream,
                where=cp.where,
            )

    # -- the end ------------------------------------------------------------------------

    def finish(
        self, *, external: Iterable[bytes] = (), vouched: Iterable[bytes] = ()
    ) -> AuditReport:
        """Check checkpoints, truncation and rules; return the report.

        ``external`` checkpoints were kept outside the broker and must meet the
        witness quorum; ``vouched`` ones come with their own signed provenance.
        """
        for note in external:
            self._external(note, witnessed=True)
        for note in vouched:
            self._external(note, witnessed=False)
        for state in self.streams.values():
            self._finish_stream(state)
        if self.rules is not None:
            for kind_where_detail in self.rules.violations():
                stream, where, detail = kind_where_detail
                self._find(FindingKind.RULE, detail, stream=stream, where=where)
        return self.report

    def _external(self, note: bytes, *, witnessed: bool) -> None:
        text = note.decode("utf-8", errors="replace")
        origin = text.split("\n", 1)[0]
        stream = origin.removeprefix("fed.audit/")
        if stream not in self._keys:
            self._find(FindingKind.UNKNOWN_STREAM, f"external checkpoint for unknown {origin!r}")
            return
        cp = self.open_note(stream, note, where="external", witnessed=witnessed)
        if cp is None:
            return
        state = self.streams.setdefault(stream, StreamState(stream=stream))
        self._add_checkpoint(state, cp)

    def _finish_stream(self, state: StreamState) -> None:
        stream = state.stream
        for seq, after in sorted(state.missing.items()):
            self._find(
                FindingKind.DELETED,
                f"sequence {seq} is missing (the stream jumps past it)",
                stream=stream,
                where=after.where,
                seq=seq,
            )
        rng = merkle.CompactRange()
        sizes = sorted(state.checkpoints)
        for size in sizes:
            cp = state.checkpoints[size]
            if size > state.size:
                source = (
                    "a checkpoint outside the broker"
                    if cp.where == "external"
                    else (f"the checkpoint at {cp.where}")
                )
                self._find(
                    FindingKind.TRUNCATED,
                    f"the log ends at size {state.size} but {source} commits to size {size}: "
                    f"{size - state.size} event(s) removed from the end",
                    stream=stream,
                    where=cp.where,
                    seq=state.size,
                )
                continue
            rng.extend(state.leaf_hashes(size, start=rng.size))
            if rng.root() != cp.root:
                previous = max((s for s in sizes if s < size), default=0)
                self._find(
                    FindingKind.ROOT_MISMATCH,
                    f"the signed root at size {size} does not match the events: something in "
                    f"sequences {previous}..{size - 1} was modified, injected or reordered",
                    stream=stream,
                    where=cp.where,
                    seq=size - 1,
                )
        anchored = max((s for s in sizes if s <= state.size), default=0)
        self.report.streams[stream] = {
            "size": state.size,
            "checkpoints": len(sizes),
            "anchored": anchored,
            "unanchored": state.size - anchored,
            "retries": state.retries,
        }
