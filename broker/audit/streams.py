"""What the verifier keeps per audit stream: leaves, positions, gaps, checkpoints.

Memory is bounded by the honest log whatever a hostile record claims: leaves are
kept only up to the stream's size, and the verifier never lets a sequence number
jump more than :data:`SEQ_WINDOW` past the larger of the stream's end and its
newest signed checkpoint (:mod:`broker.audit.verify`). Gaps are ranges.

Example::

    >>> from broker.audit.findings import RawRecord
    >>> state = StreamState(stream="ES-PN")
    >>> state.jump(3, RawRecord(partition=0, offset=9, key=None, value=b""))
    >>> state.put(3, bytes(32), RawRecord(partition=0, offset=9, key=None, value=b""))
    >>> state.size, [(g.start, g.end) for g in state.gaps], state.at(3)
    (4, [(0, 3)], '0:9')
    >>> state.fill(1); [(g.start, g.end) for g in state.gaps]
    [(0, 1), (2, 3)]
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

from broker import merkle
from broker.audit.findings import RawRecord

__all__ = ["SEQ_WINDOW", "CheckpointSeen", "StreamState"]

_HASH = merkle.HASH_SIZE

#: How far past a stream's end (or its newest signed checkpoint) a sequence number may
#: jump before it is a forged number (``injected``) rather than a gap of deleted events.
SEQ_WINDOW = 10_000


@dataclass
class CheckpointSeen:
    """A checkpoint whose note verified, and where it was read."""

    size: int
    root: bytes
    where: str
    note: bytes
    #: The signed ``time`` extension line (unix seconds), None in notes written before it.
    time: int | None = None
    #: Outside the broker (``--checkpoint``) or cosigned by enough witnesses: anchors rollback.
    anchors: bool = False


@dataclass
class _Gap:
    """Sequence numbers ``start <= seq < end`` never seen; the jump was read at ``where``."""

    start: int
    end: int
    where: str


@dataclass
class StreamState:
    """What the verifier knows about one stream.

    Memory is bounded by the honest log, whatever a hostile record claims: leaves are
    kept for ``0 <= seq < size`` only, and ``size`` never grows more than
    :data:`SEQ_WINDOW` past the larger of the stream's end and its newest signed
    checkpoint (:meth:`AuditVerifier._feed_event`). Gaps are kept as ranges.
    """

    stream: str
    leaves: bytearray = field(default_factory=bytearray)
    #: Where each event was read: partition and offset by sequence number (12 bytes each).
    partitions: array[int] = field(default_factory=lambda: array("l"))
    offsets: array[int] = field(default_factory=lambda: array("q"))
    gaps: list[_Gap] = field(default_factory=list)
    checkpoints: dict[int, CheckpointSeen] = field(default_factory=dict)
    retries: int = 0
    #: Largest checkpoint size whose note verified (bounds how far ``seq`` may jump).
    signed_size: int = 0
    #: Newest signed ``time`` of any verified checkpoint (unix seconds).
    newest_time: int | None = None
    #: An outside or witnessed checkpoint verified for this stream.
    anchored_against_rollback: bool = False

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
        if not 0 <= seq < self.size or self.offsets[seq] < 0 or self.missing(seq):
            return None
        return f"{self.partitions[seq]}:{self.offsets[seq]}"

    def missing(self, seq: int) -> bool:
        """Whether ``seq`` lies in a gap (not seen yet)."""
        return self._gap_index(seq) is not None

    def _gap_index(self, seq: int) -> int | None:
        if not self.gaps:
            return None
        i = bisect.bisect_right([g.start for g in self.gaps], seq) - 1
        if i >= 0 and self.gaps[i].start <= seq < self.gaps[i].end:
            return i
        return None

    def put(self, seq: int, leaf: bytes, record: RawRecord) -> None:
        """Store the leaf of ``seq`` (``seq <= size``; a jump is recorded with :meth:`jump`)."""
        if seq == self.size:
            self.leaves += leaf
            self.partitions.append(record.partition)
            self.offsets.append(record.offset)
        else:
            self.leaves[seq * _HASH : (seq + 1) * _HASH] = leaf
            self.partitions[seq] = record.partition
            self.offsets[seq] = record.offset

    def jump(self, seq: int, record: RawRecord) -> None:
        """Record the gap ``size <= n < seq`` (zero leaves, no position)."""
        count = seq - self.size
        self.gaps.append(_Gap(start=self.size, end=seq, where=record.where))
        self.leaves += bytes(_HASH * count)
        self.partitions.extend([-1] * count)
        self.offsets.extend([-1] * count)

    def fill(self, seq: int) -> None:
        """Mark ``seq`` as no longer missing (it arrived late)."""
        i = self._gap_index(seq)
        if i is None:
            return
        gap = self.gaps[i]
        parts = [
            _Gap(start=s, end=e, where=gap.where)
            for s, e in ((gap.start, seq), (seq + 1, gap.end))
            if s < e
        ]
        self.gaps[i : i + 1] = parts
