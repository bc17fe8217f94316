"""Exact multi-index hashing (MIH) over PDQ hashes, vectorised with numpy.

A :class:`Layout` cuts the 256 bits into ``m`` disjoint slots of consecutive
bits (11 slots of 23-24 bits at ten million hashes, 16 of 16 bits for small
sets). For each slot a segment keeps the row numbers sorted by the slot's value
(``order``), where each value's run starts (``starts``, a direct-address table
of ``2**width + 1`` entries) and a one-byte run length (``counts``, saturating
at 255) so that empty buckets are skipped without touching ``starts``.

A query with threshold ``t`` probes, in slot ``i``, every value within Hamming
radius ``r_i`` of its own slot value, where ``sum(r_i + 1) = t + 1``
(:meth:`Layout.radii`). Every candidate is then checked on all 256 bits, first
on the 128 bits of words 0-1 (which rejects nearly every stranger after one
16-byte read), then on words 2-3. Why no match within ``t`` is ever missed is
argued in ``docs/matching.md`` and in :meth:`Layout.radii`.

Example::

    >>> import numpy as np
    >>> from broker.matching.pdq import parse_hex
    >>> words = parse_hex(["00" * 32, "ff" * 32])
    >>> seg = MihSegment.build(ids=np.array([7, 8], dtype=np.uint64), words=words)
    >>> q, rows, d = seg.search(parse_hex(["01" + "00" * 31]), threshold=31)
    >>> [int(x) for x in seg.ids[rows]], [int(x) for x in d]
    ([7], [1])
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from broker.errors import MatchingError
from broker.matching.pdq import HASH_BITS, Words, slot_keys

__all__ = ["CHUNK", "MAX_THRESHOLD", "Layout", "MihSegment", "probe_masks"]

#: The largest threshold a query may ask for; probing cost grows steeply past 31.
MAX_THRESHOLD = 63

#: Queries are processed this many at a time: large enough that numpy's per-call
#: overhead is small and that neighbouring probes share cache lines, small enough
#: that a chunk's working arrays (a few MiB per slot) stay modest per thread.
CHUNK = 2048
_SATURATED = 255


@dataclass(frozen=True)
class Layout:
    """How the 256 bits are cut into slots: ``widths[i]`` consecutive bits each."""

    widths: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.widths or sum(self.widths) > HASH_BITS:
            raise ValueError("slot widths must be non-empty and cover at most 256 bits")
        if any(not 1 <= w <= 24 for w in self.widths):
            raise ValueError("each slot must be 1..24 bits wide")

    @classmethod
    def for_size(cls, rows: int) -> Layout:
        """Return the layout for a segment of ``rows`` hashes.

        Slots about ``log2(rows)`` bits wide leave about one stored hash per
        bucket (Norouzi, Punjani & Fleet, "Fast exact search in Hamming space
        with multi-index hashing", TPAMI 2014, section 4), balancing probes
        against candidates; 11 to 16 slots bound the tables at ``2**24`` entries.
        """
        bits = max(16.0, math.log2(max(rows, 2)))
        slots = min(16, max(11, round(HASH_BITS / bits)))
        base, extra = divmod(HASH_BITS, slots)
        return cls(widths=(base + 1,) * extra + (base,) * (slots - extra))

    @property
    def offsets(self) -> tuple[int, ...]:
        """Return the first bit of each slot."""
        return tuple(itertools.accumulate(self.widths, initial=0))[:-1]

    def radii(self, threshold: int) -> tuple[int, ...]:
        """Return the probe radius per slot for ``threshold`` (-1: slot not probed).

        With ``sum(r_i + 1) = threshold + 1``: if every slot ``i`` differed in
        more than ``r_i`` bits, the hashes would differ in at least
        ``threshold + 1`` bits. So a hash within ``threshold`` agrees with the
        query to within ``r_i`` bits in some slot ``i``, and that slot's probes
        find it (the pigeonhole principle, generalised to unequal radii).
        """
        if not 0 <= threshold <= MAX_THRESHOLD:
            raise MatchingError(f"threshold must be 0..{MAX_THRESHOLD}", detail=f"{threshold}")
        per, extra = divmod(threshold + 1, len(self.widths))
        return tuple(per - 1 + (1 if i < extra else 0) for i in range(len(self.widths)))


@functools.lru_cache(maxsize=64)
def probe_masks(width: int, radius: int) -> NDArray[np.intp]:
    """Return every ``width``-bit value with at most ``radius`` bits set (0 first)."""
    masks = [0]
    for k in range(1, radius + 1):
        for bits in itertools.combinations(range(width), k):
            masks.append(sum(1 << b for b in bits))
    out = np.array(masks, dtype=np.intp)
    out.flags.writeable = False
    return out


class MihSegment:
    """An immutable set of PDQ rows with its multi-index; only ``dead`` changes."""

    def __init__(
        self,
        *,
        layout: Layout,
        ids: NDArray[np.uint64],
        hi: Words,
        lo: Words,
        order: list[NDArray[np.uint32]],
        starts: list[NDArray[np.uint32]],
        counts: list[NDArray[np.uint8]],
        dead: NDArray[np.bool_],
    ) -> None:
        n = ids.shape[0]
        if hi.shape != (n, 2) or lo.shape != (n, 2) or dead.shape != (n,):
            raise MatchingError("segment arrays disagree on the number of rows")
        if not len(order) == len(starts) == len(counts) == len(layout.widths):
            raise MatchingError("segment has the wrong number of slot tables")
        for w, o, s, c in zip(layout.widths, order, starts, counts, strict=True):
            if o.shape != (n,) or s.shape != ((1 << w) + 1,) or c.shape != (1 << w,):
                raise MatchingError("segment slot table has the wrong shape")
            if int(s[-1]) != n:
                raise MatchingError("segment slot table does not cover every row")
        self.layout = layout
        self.ids = ids
        self.hi = hi
        self.lo = lo
        self.order = order
        self.starts = starts
        self.counts = counts
        self.dead = dead

    @classmethod
    def build(
        cls, *, ids: NDArray[np.uint64], words: Words, layout: Layout | None = None
    ) -> MihSegment:
        """Index ``words`` (``(n, 4)`` uint64) under ``ids``; sorts once per slot."""
        n = words.shape[0]
        if ids.shape != (n,) or words.shape != (n, 4):
            raise MatchingError("ids and hashes disagree on the number of rows")
        if n >= 1 << 32:
            raise MatchingError("a segment holds fewer than 2**32 rows")
        layout = layout or Layout.for_size(n)
        rows = np.arange(n, dtype=np.uint64)
        order: list[NDArray[np.uint32]] = []
        starts: list[NDArray[np.uint32]] = []
        counts: list[NDArray[np.uint8]] = []
        for offset, width in zip(layout.offsets, layout.widths, strict=True):
            keys = slot_keys(words, offset, width)
            # Sorting (key << 32 | row) is a stable argsort by key, and numpy's
            # vectorised sort of uint64 is several times faster than argsort.
            packed = (keys.astype(np.uint64) << np.uint64(32)) | rows
            packed.sort()
            order.append(packed.astype(np.uint32))  # the low 32 bits: the row
            del packed
            per_key = np.bincount(keys, minlength=1 << width)
            start = np.zeros((1 << width) + 1, dtype=np.uint32)
            np.cumsum(per_key, out=start[1:])
            starts.append(start)
            counts.append(np.minimum(per_key, _SATURATED).astype(np.uint8))
        return cls(
            layout=layout,
            ids=np.ascontiguousarray(ids, dtype=np.uint64),
            hi=np.ascontiguousarray(words[:, :2]),
            lo=np.ascontiguousarray(words[:, 2:]),
            order=order,
            starts=starts,
            counts=counts,
            dead=np.zeros(n, dtype=np.bool_),
        )

    @classmethod
    def merge(cls, segments: list[MihSegment]) -> MihSegment:
        """Return one segment holding the live rows of ``segments``, in their order."""
        ids = np.concatenate([s.ids[~s.dead] for s in segments])
        words = np.concatenate([np.hstack((s.hi[~s.dead], s.lo[~s.dead])) for s in segments])
        return cls.build(ids=ids, words=words)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def live(self) -> int:
        """Return the number of rows not withdrawn."""
        return len(self) - int(np.count_nonzero(self.dead))

    def words(self, rows: NDArray[np.intp]) -> Words:
        """Return the stored hashes of ``rows``."""
        return np.hstack((np.take(self.hi, rows, axis=0), np.take(self.lo, rows, axis=0)))

    def search(
        self, queries: Words, *, threshold: int
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.uint16]]:
        """Return ``(query, row, distance)`` for every live row within ``threshold``.

        Each pair appears once; order is by query, then row.
        """
        radii = self.layout.radii(threshold)
        parts: list[tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.uint16]]] = []
        for first in range(0, queries.shape[0], CHUNK):
            chunk = queries[first : first + CHUNK]
            q, rows, dist = self._search_chunk(chunk, threshold, radii)
            parts.append((q + first, rows, dist))
        if not parts:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty.copy(), np.zeros(0, dtype=np.uint16)
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def _search_chunk(
        self, queries: Words, threshold: int, radii: tuple[int, ...]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.uint16]]:
        q_hi = np.ascontiguousarray(queries[:, :2])
        q_lo = np.ascontiguousarray(queries[:, 2:])
        found_q: list[NDArray[np.intp]] = []
        found_rows: list[NDArray[np.intp]] = []
        found_d: list[NDArray[np.uint16]] = []
        slots = zip(self.layout.offsets, self.layout.widths, radii, strict=True)
        for slot, (offset, width, radius) in enumerate(slots):
            if radius < 0:
                continue
            masks = probe_masks(width, radius)
            pos, qi = self._candidates(slot, slot_keys(queries, offset, width), masks)
            if pos.size == 0:
                continue
            rows = np.take(self.order[slot], pos).astype(np.intp)
            # Stage 1: words 0-1. A stranger differs in ~64 of these 128 bits.
            x = np.take(self.hi, rows, axis=0)
            x ^= np.take(q_hi, qi, axis=0)
            pc = np.bitwise_count(x)
            d = pc[:, 0].astype(np.uint16)
            d += pc[:, 1]
            keep = np.nonzero(d <= threshold)[0]
            rows, qi, d = rows[keep], qi[keep], d[keep]
            # Stage 2: words 2-3, only for the few that survived.
            x = np.take(self.lo, rows, axis=0)
            x ^= np.take(q_lo, qi, axis=0)
            pc = np.bitwise_count(x)
            d += pc[:, 0]
            d += pc[:, 1]
            keep = np.nonzero(d <= threshold)[0]
            found_q.append(qi[keep])
            found_rows.append(rows[keep])
            found_d.append(d[keep])
        if not found_q:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty.copy(), np.zeros(0, dtype=np.uint16)
        qi = np.concatenate(found_q)
        rows = np.concatenate(found_rows)
        d = np.concatenate(found_d)
        alive = np.nonzero(~self.dead[rows])[0]
        qi, rows, d = qi[alive], rows[alive], d[alive]
        # A near hash is usually found through several slots: keep one of each pair.
        _, first = np.unique(qi * len(self) + rows, return_index=True)
        return qi[first], rows[first], d[first]

    def _candidates(
        self, slot: int, keys: NDArray[np.intp], masks: NDArray[np.intp]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Return ``(position in order, query)`` for every stored row in a probed bucket."""
        # Mask-major over the queries sorted by key: consecutive probes of one mask
        # walk the tables upwards, so neighbouring reads share cache lines and pages.
        perm = np.argsort(keys)
        probes = (masks[:, None] ^ keys[perm][None, :]).ravel()
        count = np.take(self.counts[slot], probes)
        hit = np.flatnonzero(count)
        probes, n = probes[hit], count[hit].astype(np.intp)
        start = np.take(self.starts[slot], probes).astype(np.intp)
        qi = np.take(perm, hit % keys.shape[0])
        saturated = np.nonzero(n == _SATURATED)[0]
        if saturated.size:
            n[saturated] = np.take(self.starts[slot], probes[saturated] + 1) - start[saturated]
        # Most buckets hold one to three rows: emit the k-th row of every bucket
        # that has one, for k = 0, 1, 2, 3, then expand what is left in one go.
        pos_parts, q_parts = [start], [qi]
        more = np.nonzero(n > 1)[0]
        start, n, qi = start[more], n[more], qi[more]
        k = 1
        while start.size:
            if k == 4:
                rest = n - k
                ends = np.cumsum(rest)
                pos_parts.append(
                    np.arange(int(ends[-1]), dtype=np.intp)
                    + np.repeat(start + k - ends + rest, rest)
                )
                q_parts.append(np.repeat(qi, rest))
                break
            pos_parts.append(start + k)
            q_parts.append(qi)
            k += 1
            more = np.nonzero(n > k)[0]
            start, n, qi = start[more], n[more], qi[more]
        if len(pos_parts) == 1:
            return pos_parts[0], q_parts[0]
        return np.concatenate(pos_parts), np.concatenate(q_parts)
