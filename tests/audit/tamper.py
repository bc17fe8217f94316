"""Ways an attacker with write access to the audit topic (or an export) rewrites history.

Each function takes the raw records of a log, in order, and returns a rewritten
copy; the original list is not changed. They are used on in-memory streams, on
copies of the real ``fed.audit`` topic and on exported archives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from broker import merkle
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind
from broker.audit.findings import RawRecord
from broker.codec import SchemaStore

Tamper = Callable[[list[RawRecord]], list[RawRecord]]


def _event(record: RawRecord) -> AuditEvent | None:
    fp = SchemaStore.default().fingerprint(CHECKPOINT_SCHEMA)
    if record.value[2:10] == fp:
        return None
    return AuditEvent.from_bytes(record.value)


def _index(records: list[RawRecord], stream: str, seq: int) -> int:
    for i, record in enumerate(records):
        event = _event(record)
        if event is not None and (event.stream, event.seq) == (stream, seq):
            return i
    raise LookupError(f"{stream}#{seq} not in the log")


def modify(stream: str, seq: int) -> Tamper:
    """Change what one event says (its outcome and parties), keeping its position."""

    def rewrite(records: list[RawRecord]) -> list[RawRecord]:
        out = list(records)
        i = _index(out, stream, seq)
        event = _event(out[i])
        assert event is not None
        forged = dataclasses.replace(event, outcome="forged", parties=["XX-FAKE", "YY-FAKE"])
        out[i] = dataclasses.replace(out[i], value=forged.to_bytes())
        return out

    return rewrite


def delete(stream: str, seq: int) -> Tamper:
    """Remove one event."""

    def rewrite(records: list[RawRecord]) -> list[RawRecord]:
        out = list(records)
        del out[_index(out, stream, seq)]
        return out

    return rewrite


def reorder(stream: str, seq: int) -> Tamper:
    """Swap two consecutive events of a stream."""

    def rewrite(records: list[RawRecord]) -> list[RawRecord]:
        out = list(records)
        i, j = _index(out, stream, seq), _index(out, stream, seq + 1)
        out[i], out[j] = out[j], out[i]
        return out

    return rewrite


def inject(stream: str, seq: int) -> Tamper:
    """Slip in a forged event claiming an existing sequence number, chained correctly."""

    def rewrite(records: list[RawRecord]) -> list[RawRecord]:
        out = list(records)
        i = _index(out, stream, seq)
        original = _event(out[i])
        assert original is not None
        forged = AuditEvent.new(
            AuditKind.RELEASE_GRANT, actor=stream, parties=[stream, "XX-FAKE"], ref="forged"
        ).at_position(stream=stream, seq=seq, prev=original.prev_leaf_hash)
        out.insert(i + 1, dataclasses.replace(out[i], value=forged.to_bytes()))
        return out

    return rewrite


def inject_renumbered(stream: str, seq: int) -> Tamper:
    """Insert a forged event and renumber and re-chain every later event of the stream.

    Sequence numbers and chain then look perfect; only the signed roots expose it.
    """

    def rewrite(records: list[RawRecord]) -> list[RawRecord]:
        out: list[RawRecord] = []
        prev = b""
        shift = 0
        for record in records:
            event = _event(record)
            if event is None or event.stream != stream:
                out.append(record)
                continue
            if event.seq == seq:
                forged = AuditEvent.new(
                    AuditKind.RELEASE_GRANT, actor=stream, parties=[stream, "XX-FAKE"]
                ).at_position(stream=stream, seq=seq, prev=prev)
                value = forged.to_bytes()
                out.append(dataclasses.replace(record, value=value))
                prev = merkle.leaf_hash(value)
                shift = 1
            if shift:
                moved = event.at_position(stream=stream, seq=event.seq + shift, prev=prev)
                value = moved.to_bytes()
                out.append(dataclasses.replace(record, value=value))
                prev = merkle.leaf_hash(value)
            else:
                out.append(record)
                prev = merkle.leaf_hash(record.value)
        return out

    return rewrite


def truncate(stream: str, keep: int) -> Tamper:
    """Drop a stream's events from ``keep`` on, and every checkpoint that would reveal it."""

    def rewrite(records: list[RawRecord]) -> list[RawRecord]:
        store = SchemaStore.default()
        out = []
        for record in records:
            event = _event(record)
            if event is not None:
                if event.stream == stream and event.seq >= keep:
                    continue
            else:
                cp = store.decode(CHECKPOINT_SCHEMA, record.value)
                if cp["stream"] == stream and cp["size"] > keep:
                    continue
            out.append(record)
        return out

    return rewrite
