"""Replay-verify audit streams: every way to tamper with them is a named finding.

:class:`AuditVerifier` is fed raw records (:class:`RawRecord`: exact bytes and
where they were read) from Kafka or an export, in log order, and checks:

* **decoding** — single-object Avro with a known ``AuditEvent`` or
  ``AuditCheckpoint`` fingerprint, else ``undecodable``;
* **sequence** — per stream, gap-free from 0: a gap is ``deleted``, a number
  arriving after a later one is ``reordered``, a repeated number with other bytes
  is ``injected`` (byte-identical repeats are writer retries, only counted), and
  so is a number more than :data:`SEQ_WINDOW` past the stream's end and its newest
  signed checkpoint (memory stays bounded by the honest log);
* **chain** — ``prev_leaf_hash`` must be the previous event's leaf (``modified``);
* **checkpoints** — the note must verify with the stream's root-certified audit
  key (``forged-checkpoint``; a stream's own key never counts as its witness), the
  RFC 9162 root at its size must match (``root-mismatch``); two roots for one size
  are a ``fork``; no checkpoint may be larger than the stream (``truncated``);
* **presence** — every certified stream has records or an outside checkpoint
  (``missing-stream``);
* **rollback** — each stream is *anchored* (an outside or witnessed checkpoint)
  and *fresh* (newest signed ``time`` within :data:`MAX_CHECKPOINT_AGE` of the
  reference time), else the verdict is "OK (not anchored against rollback)";
* **semantic rules** (:mod:`broker.audit.rules`), where only events covered by a
  matching signed checkpoint count as evidence.

Example::

    verifier = AuditVerifier(keys=load_audit_keys(settings))
    for record in records:
        verifier.feed(record)
    report = verifier.finish(external=[note_bytes])
    print(report.ok, report.findings)
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import fastavro

from broker import merkle
from broker.audit.checkpoint import REPUBLISH_SECONDS, open_checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, EVENT_SCHEMA, AuditEvent, origin_for
from broker.audit.findings import AuditReport, Finding, FindingKind, RawRecord
from broker.audit.note import NoteKeyVerifier
from broker.audit.rules import RuleBook
from broker.audit.signers import NoteVerifier
from broker.audit.streams import SEQ_WINDOW, CheckpointSeen, StreamState
from broker.audit.witness import witness_name
from broker.codec import SchemaStore
from broker.errors import AuditError, SchemaError

__all__ = ["EMPTY_STREAM_GRACE", "MAX_CHECKPOINT_AGE", "SEQ_WINDOW", "AuditVerifier", "StreamState"]

#: A stream whose newest signed checkpoint time is older than this, relative to the
#: replay's reference time, is stale (seconds): writers re-sign their newest checkpoint
#: every :data:`~broker.audit.checkpoint.REPUBLISH_SECONDS` while they run; 60 s of slack.
MAX_CHECKPOINT_AGE = REPUBLISH_SECONDS + 60.0
#: A certified stream with no record yet is a finding once its key is older than this
#: (seconds): its writer signs the empty tree when it first starts.
EMPTY_STREAM_GRACE = 15 * 60.0


class AuditVerifier:
    """Streaming verifier over raw audit records (see the module docstring)."""

    def __init__(
        self,
        *,
        keys: Mapping[str, NoteVerifier],
        rules: bool = True,
        witnesses: Sequence[NoteKeyVerifier] = (),
        quorum: int = 0,
        max_checkpoint_age: float = MAX_CHECKPOINT_AGE,
        certified_at: Mapping[str, dt.datetime] | None = None,
    ) -> None:
        self._keys = dict(keys)
        #: When each stream's key was certified: an empty stream is a finding only after
        #: :data:`EMPTY_STREAM_GRACE` (time for its writer to start and sign the empty tree).
        self._certified_at = dict(certified_at or {})
        #: Seconds a stream's newest signed checkpoint may lag the reference time.
        self.max_checkpoint_age = max_checkpoint_age
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

    def _state(self, stream: str, record: RawRecord) -> StreamState:
        state = self.streams.get(stream)
        if state is None:
            if stream not in self._keys:
                self._find(
                    FindingKind.UNKNOWN_STREAM,
                    "no root-certified audit key for this stream: its records are not trusted",
                    stream=stream,
                    where=record.where,
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
        state = self._state(stream, record)
        leaf = merkle.leaf_hash(record.value)
        expected = state.size
        if seq < 0 or seq > max(expected, state.signed_size) + SEQ_WINDOW:
            # No honest writer jumps this far: a forged number. Allocate nothing for it.
            why = (
                "negative sequence number"
                if seq < 0
                else f"sequence {seq} is far past the stream's end (size {expected}, newest "
                f"signed checkpoint {state.signed_size}): a forged number, ignored"
            )
            self._find(FindingKind.INJECTED, why, stream=stream, where=record.where, seq=seq)
            return
        if seq == expected:
            state.put(seq, leaf, record)
        elif seq > expected:
            state.jump(seq, record)
            state.put(seq, leaf, record)
        elif state.missing(seq):
            state.fill(seq)
            state.put(seq, leaf, record)
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
        elif state.missing(seq - 1):
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
        state = self._state(stream, record)
        checkpoint = self.open_note(stream, rec["note"], where=where)
        if checkpoint is None:
            return
        self._add_checkpoint(state, checkpoint)

    def open_note(
        self, stream: str, note: bytes, *, where: str, witnessed: bool = False
    ) -> CheckpointSeen | None:
        """Verify a checkpoint note of ``stream``; record a finding and return None if bad.

        ``witnessed`` notes must also carry the verifier's witness quorum. A stream's own
        key never counts as its witness (neither under its ``witness/<stream>`` name nor
        under any other). A note that carries the quorum (at least one cosignature) anchors
        the stream against rollback.
        """
        key = self._keys.get(stream)
        if key is None:
            return None
        witnesses = [
            w
            for w in self._witnesses
            if w.name != witness_name(stream) and w.public_key != key.public_key
        ]
        try:
            signed = open_checkpoint(
                note,
                log=key,
                origin=origin_for(stream),
                witnesses=witnesses,
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
        cosigned = len(signed.witnesses) >= max(self._quorum, 1)
        return CheckpointSeen(
            size=cp.size,
            root=cp.root,
            where=where,
            note=note,
            time=cp.time,
            anchors=(where == "external" and witnessed) or cosigned,
        )

    def _add_checkpoint(self, state: StreamState, cp: CheckpointSeen) -> None:
        state.signed_size = max(state.signed_size, cp.size)
        if cp.time is not None and (state.newest_time is None or cp.time > state.newest_time):
            state.newest_time = cp.time
        state.anchored_against_rollback |= cp.anchors
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
        self,
        *,
        external: Iterable[bytes] = (),
        vouched: Iterable[bytes] = (),
        now: dt.datetime | None = None,
    ) -> AuditReport:
        """Check checkpoints, truncation, freshness and rules; return the report.

        ``external`` checkpoints were kept outside the broker and must meet the
        witness quorum; ``vouched`` ones come with their own signed provenance.
        ``now`` is the replay's reference time for freshness (default: the clock).
        """
        for note in external:
            self._external(note, witnessed=True)
        for note in vouched:
            self._external(note, witnessed=False)
        now = now or dt.datetime.now(dt.UTC)
        for stream in sorted(set(self._keys) - set(self.streams)):
            certified = self._certified_at.get(stream)
            if certified is not None and (now - certified).total_seconds() <= EMPTY_STREAM_GRACE:
                self.streams[stream] = StreamState(stream=stream)  # too young to judge
                continue
            self._find(
                FindingKind.MISSING_STREAM,
                "a root-certified stream with no record in the log and no checkpoint kept "
                "outside the broker: the whole stream was deleted (or its writer never ran)",
                stream=stream,
            )
        anchored: dict[str, int] = {}
        for state in self.streams.values():
            anchored[state.stream] = self._finish_stream(state)
        self._freshness(now)
        if self.rules is not None:
            times = [s.newest_time for s in self.streams.values() if s.newest_time is not None]
            newest = dt.datetime.fromtimestamp(max(times), dt.UTC) if times else None
            for stream, where, detail in self.rules.violations(anchored=anchored, newest=newest):
                self._find(FindingKind.RULE, detail, stream=stream, where=where)
        return self.report

    def _freshness(self, now: dt.datetime) -> None:
        """Mark each stream fresh or stale and qualify the verdict (rollback, F6)."""
        reference = now.timestamp()
        for name, info in self.report.streams.items():
            state = self.streams[name]
            info["newest_checkpoint_time"] = newest = state.newest_time
            info["fresh"] = newest is not None and reference - newest <= self.max_checkpoint_age
            info["anchored_against_rollback"] = state.anchored_against_rollback

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

    def _finish_stream(self, state: StreamState) -> int:
        """Check one stream's gaps, roots and truncation; return its anchored size."""
        stream = state.stream
        for gap in state.gaps:
            seqs = (
                f"sequence {gap.start} is"
                if gap.end == gap.start + 1
                else f"sequences {gap.start}..{gap.end - 1} are"
            )
            self._find(
                FindingKind.DELETED,
                f"{seqs} missing (the stream jumps past it)",
                stream=stream,
                where=gap.where,
                seq=gap.start,
            )
        rng = merkle.CompactRange()
        sizes = sorted(state.checkpoints)
        anchored = 0
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
            elif not state.gaps or state.gaps[0].start >= size:
                anchored = size
        self.report.streams[stream] = {
            "size": state.size,
            "checkpoints": len(sizes),
            "anchored": anchored,
            "unanchored": state.size - anchored,
            "retries": state.retries,
        }
        return anchored
