"""The reference-hash index: PDQ near-duplicates and exact SHA-256 / MD5 digests.

Rows are kept in segments, like a log-structured merge tree: each
:meth:`HashIndex.add` batch becomes a new segment, and a segment is merged with
the one before it once it holds at least half as many live rows, so a hash is
re-indexed O(log n) times over its life and adding never rebuilds the whole
index. :meth:`HashIndex.withdraw` sets a tombstone that every query checks, so a
withdrawn hash stops matching at once; merging (and :meth:`HashIndex.compact`)
drops the tombstoned rows.

Ids are opaque unsigned 64-bit numbers chosen by the caller (for example a row
of the hub's hash-list table). An id may carry several hashes (video frames,
dihedral variants); a match reports each ``(query, id)`` once, at its smallest
distance.

Example::

    >>> idx = HashIndex()
    >>> idx.add(Entries.parse([10, 11], pdq=["00" * 32, "ff" * 32]))
    >>> m = idx.query_batch(["00" * 31 + "07"], threshold=31)
    >>> m.pairs()
    [(0, 10, 3)]
    >>> idx.withdraw(ids=[10])
    1
    >>> len(idx.query_batch(["00" * 32]))
    0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from broker.errors import HashFormatError, IndexCorruptError, MatchingError
from broker.matching import store
from broker.matching.exact import DIGEST_WORDS, ExactSegment
from broker.matching.mih import CHUNK, Layout, MihSegment
from broker.matching.pdq import Words, as_words

__all__ = ["DEFAULT_THRESHOLD", "Entries", "ExactKind", "HashIndex", "Matches"]

#: Meta's recommended PDQ match threshold (pdq/README.md in facebook/ThreatExchange).
DEFAULT_THRESHOLD = 31

ExactKind = Literal["sha256", "md5"]
_KINDS: tuple[ExactKind, ...] = ("sha256", "md5")

HashInput = Sequence[str | bytes] | NDArray[np.uint64]


def _ids(values: Iterable[int] | NDArray[Any]) -> NDArray[np.uint64]:
    try:
        out = np.asarray(values if isinstance(values, np.ndarray) else list(values))
        if out.size == 0:
            return np.zeros(0, dtype=np.uint64)
        if out.ndim != 1 or out.dtype.kind not in "ui" or (out.dtype.kind == "i" and out.min() < 0):
            raise HashFormatError("ids must be a flat sequence of unsigned 64-bit integers")
        return out.astype(np.uint64)
    except OverflowError as exc:
        raise HashFormatError("ids must fit in an unsigned 64-bit integer") from exc


@dataclass(frozen=True, kw_only=True)
class Entries:
    """A batch of reference rows: one id per row with its PDQ hash and/or digests.

    Each of ``pdq`` (``(n, 4)``), ``sha256`` (``(n, 4)``) and ``md5`` (``(n, 2)``)
    is either absent or gives a value for every row.
    """

    ids: NDArray[np.uint64]
    pdq: Words | None = None
    sha256: Words | None = None
    md5: Words | None = None

    def __post_init__(self) -> None:
        n = self.ids.shape[0]
        for name, value, words in (("pdq", self.pdq, 4), ("sha256", self.sha256, 4)):
            if value is not None and value.shape != (n, words):
                raise HashFormatError(f"{name} must have one row of {words} words per id")
        if self.md5 is not None and self.md5.shape != (n, 2):
            raise HashFormatError("md5 must have one row of 2 words per id")

    @classmethod
    def parse(
        cls,
        ids: Iterable[int] | NDArray[Any],
        *,
        pdq: HashInput | None = None,
        sha256: HashInput | None = None,
        md5: HashInput | None = None,
    ) -> Entries:
        """Build a batch from ids and hex strings (or ready ``uint64`` word arrays)."""
        return cls(
            ids=_ids(ids),
            pdq=None if pdq is None else as_words(pdq, words=4, what="PDQ hash"),
            sha256=None if sha256 is None else as_words(sha256, words=4, what="SHA-256"),
            md5=None if md5 is None else as_words(md5, words=2, what="MD5"),
        )


@dataclass(frozen=True, kw_only=True)
class Matches:
    """Matches as parallel arrays, sorted by query, then distance, then id."""

    query: NDArray[np.intp]
    id: NDArray[np.uint64]
    distance: NDArray[np.uint16]

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def pairs(self) -> list[tuple[int, int, int]]:
        """Return ``(query index, reference id, distance)`` tuples."""
        return list(zip(self.query.tolist(), self.id.tolist(), self.distance.tolist(), strict=True))

    @classmethod
    def best(
        cls, query: NDArray[np.intp], ids: NDArray[np.uint64], distance: NDArray[np.uint16]
    ) -> Matches:
        """Keep, for each ``(query, id)``, the smallest distance; sort the result."""
        order = np.lexsort((distance, ids, query))
        query, ids, distance = query[order], ids[order], distance[order]
        first = np.ones(query.size, dtype=np.bool_)
        first[1:] = (query[1:] != query[:-1]) | (ids[1:] != ids[:-1])
        query, ids, distance = query[first], ids[first], distance[first]
        order = np.lexsort((ids, distance, query))
        query, ids, distance = query[order], ids[order], distance[order]
        return cls(query=query, id=ids, distance=distance)


_S = TypeVar("_S", MihSegment, ExactSegment)


def _absorb(segments: list[_S], new: _S, merge: Callable[[list[_S]], _S]) -> None:
    """Append ``new``; merge the last two while the newer holds >= half the older's rows."""
    segments.append(new)
    while len(segments) >= 2 and 2 * segments[-1].live >= segments[-2].live:
        last = segments.pop()
        segments[-1] = merge([segments[-1], last])
    segments[:] = [s for s in segments if s.live]


class HashIndex:
    """PDQ near-duplicate and exact-digest index over reference hash lists."""

    def __init__(self, *, workers: int | None = None) -> None:
        #: Threads a large :meth:`query_batch` uses (default: the CPUs this process may use).
        self.workers = workers if workers is not None else len(os.sched_getaffinity(0))
        if self.workers < 1:
            raise MatchingError("workers must be at least 1", detail=str(self.workers))
        self._pdq: list[MihSegment] = []
        self._exact: dict[ExactKind, list[ExactSegment]] = {k: [] for k in _KINDS}

    # -- writing ----------------------------------------------------------------------

    def add(self, entries: Entries) -> None:
        """Add a batch of reference rows; indexes only the new rows."""
        if entries.ids.size == 0:
            return
        if entries.pdq is not None:
            _absorb(
                self._pdq, MihSegment.build(ids=entries.ids, words=entries.pdq), MihSegment.merge
            )
        for kind in _KINDS:
            digests = entries.sha256 if kind == "sha256" else entries.md5
            if digests is not None:
                segment = ExactSegment.build(ids=entries.ids, digests=digests)
                _absorb(self._exact[kind], segment, ExactSegment.merge)

    def withdraw(
        self,
        *,
        ids: Iterable[int] | NDArray[Any] | None = None,
        pdq: HashInput | None = None,
        sha256: HashInput | None = None,
        md5: HashInput | None = None,
    ) -> int:
        """Withdraw rows by id (all their hashes) or by exact hash value; return rows withdrawn.

        Takes effect for every query that starts after it returns.
        """
        withdrawn = 0
        if ids is not None:
            wanted = _ids(ids)
            segments: list[MihSegment | ExactSegment] = [*self._pdq]
            segments += [*self._exact["sha256"], *self._exact["md5"]]
            for seg in segments:
                hit = np.isin(seg.ids, wanted) & ~seg.dead
                seg.dead[hit] = True
                withdrawn += int(np.count_nonzero(hit))
        if pdq is not None:
            words = as_words(pdq, words=4, what="PDQ hash")
            for mih in self._pdq:
                _, rows, _ = mih.search(words, threshold=0)
                fresh = np.unique(rows)
                withdrawn += int(np.count_nonzero(~mih.dead[fresh]))
                mih.dead[fresh] = True
        exact: tuple[tuple[ExactKind, HashInput | None], ...] = (("sha256", sha256), ("md5", md5))
        for kind, values in exact:
            if values is not None:
                digests = as_words(values, words=DIGEST_WORDS[kind], what=kind)
                for ex in self._exact[kind]:
                    _, rows = ex.lookup(digests)
                    fresh = np.unique(rows)
                    withdrawn += int(np.count_nonzero(~ex.dead[fresh]))
                    ex.dead[fresh] = True
        return withdrawn

    def compact(self) -> None:
        """Merge every segment of each kind into one, dropping withdrawn rows."""
        if self._pdq:
            self._pdq = [s for s in [MihSegment.merge(self._pdq)] if len(s)]
        for kind in _KINDS:
            if self._exact[kind]:
                merged = ExactSegment.merge(self._exact[kind])
                self._exact[kind] = [merged] if len(merged) else []

    # -- reading ----------------------------------------------------------------------

    def query_batch(
        self, pdq: HashInput, *, threshold: int = DEFAULT_THRESHOLD, workers: int | None = None
    ) -> Matches:
        """Return every live reference within ``threshold`` bits of each query hash.

        A batch larger than one chunk (:data:`~broker.matching.mih.CHUNK` queries) is
        split into chunks searched by ``workers`` threads (default: :attr:`workers`).
        numpy releases the GIL in the array operations that do the work, so threads
        use every core while sharing one copy of the index (memory-mapped or not).
        """
        words = as_words(pdq, words=4, what="PDQ hash")
        segments = list(self._pdq)  # adds and merges replace the list, never a segment
        firsts = range(0, words.shape[0], CHUNK)
        n = max(1, min(self.workers if workers is None else workers, len(firsts)))

        def one(first: int) -> tuple[NDArray[np.intp], NDArray[np.uint64], NDArray[np.uint16]]:
            part = words[first : first + CHUNK]
            qs = [np.zeros(0, np.intp)]
            ids = [np.zeros(0, np.uint64)]
            dist = [np.zeros(0, np.uint16)]
            for seg in segments:
                q, rows, d = seg.search(part, threshold=threshold)
                qs.append(q + first)
                ids.append(seg.ids[rows])
                dist.append(d)
            return np.concatenate(qs), np.concatenate(ids), np.concatenate(dist)

        if n == 1:
            parts = [one(first) for first in firsts]
        else:
            with ThreadPoolExecutor(n, thread_name_prefix="hash-index") as pool:
                parts = list(pool.map(one, firsts))
        if not parts:
            return Matches.best(
                np.zeros(0, np.intp), np.zeros(0, np.uint64), np.zeros(0, np.uint16)
            )
        return Matches.best(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def lookup_exact(self, digests: HashInput, *, kind: ExactKind) -> Matches:
        """Return every live reference whose ``kind`` digest equals a query (distance 0)."""
        if kind not in _KINDS:
            raise MatchingError("unknown exact digest kind", detail=str(kind))
        words = as_words(digests, words=DIGEST_WORDS[kind], what=kind)
        qs = [np.zeros(0, np.intp)]
        ids = [np.zeros(0, np.uint64)]
        for seg in self._exact[kind]:
            q, rows = seg.lookup(words)
            qs.append(q)
            ids.append(seg.ids[rows])
        q_all = np.concatenate(qs)
        return Matches.best(q_all, np.concatenate(ids), np.zeros(q_all.size, np.uint16))

    def pdq_rows(self) -> tuple[NDArray[np.uint64], Words]:
        """Return ``(ids, hashes)`` of every live PDQ row."""
        ids = [np.zeros(0, np.uint64)] + [s.ids[~s.dead] for s in self._pdq]
        words = [np.zeros((0, 4), np.uint64)] + [s.words(np.nonzero(~s.dead)[0]) for s in self._pdq]
        return np.concatenate(ids), np.concatenate(words)

    def max_id(self) -> int | None:
        """Return the largest id of any row, withdrawn or not (None: the index is empty)."""
        segments: list[MihSegment | ExactSegment] = [*self._pdq]
        segments += [*self._exact["sha256"], *self._exact["md5"]]
        tops = [int(s.ids.max()) for s in segments if len(s)]
        return max(tops) if tops else None

    def stats(self) -> dict[str, Any]:
        """Return row, live-row and segment counts per kind."""
        out: dict[str, Any] = {
            "pdq": {
                "rows": sum(len(s) for s in self._pdq),
                "live": sum(s.live for s in self._pdq),
                "segments": [len(s) for s in self._pdq],
            }
        }
        for kind in _KINDS:
            segs = self._exact[kind]
            out[kind] = {
                "rows": sum(len(s) for s in segs),
                "live": sum(s.live for s in segs),
                "segments": [len(s) for s in segs],
            }
        return out

    # -- persistence ------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Save the index (tombstones included) as a new verified snapshot at ``path``."""
        arrays: dict[str, NDArray[Any]] = {}
        meta: dict[str, Any] = {"pdq": [], "sha256": [], "md5": []}
        for i, seg in enumerate(self._pdq):
            meta["pdq"].append({"rows": len(seg), "widths": list(seg.layout.widths)})
            base = f"pdq-{i}"
            arrays |= {f"{base}-ids": seg.ids, f"{base}-hi": seg.hi, f"{base}-lo": seg.lo}
            arrays[f"{base}-dead"] = seg.dead
            for s in range(len(seg.layout.widths)):
                arrays[f"{base}-order-{s}"] = seg.order[s]
                arrays[f"{base}-starts-{s}"] = seg.starts[s]
                arrays[f"{base}-counts-{s}"] = seg.counts[s]
        for kind in _KINDS:
            for i, ex in enumerate(self._exact[kind]):
                meta[kind].append({"rows": len(ex)})
                base = f"{kind}-{i}"
                arrays |= {f"{base}-key": ex.key, f"{base}-rest": ex.rest}
                arrays |= {f"{base}-ids": ex.ids, f"{base}-dead": ex.dead}
        store.write(path, meta=meta, arrays=arrays)

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True, workers: int | None = None) -> HashIndex:
        """Load a saved index, verifying every file; memory-maps the arrays by default."""
        meta, arrays = store.read(path, mmap=mmap)

        def get(name: str) -> NDArray[Any]:
            if name not in arrays:
                raise IndexCorruptError("saved index lacks an array", detail=name)
            return np.asarray(arrays[name])

        index = cls(workers=workers)
        try:
            for i, m in enumerate(meta["pdq"]):
                base = f"pdq-{i}"
                layout = Layout(widths=tuple(int(w) for w in m["widths"]))
                slots = range(len(layout.widths))
                index._pdq.append(
                    MihSegment(
                        layout=layout,
                        ids=get(f"{base}-ids"),
                        hi=get(f"{base}-hi"),
                        lo=get(f"{base}-lo"),
                        order=[get(f"{base}-order-{s}") for s in slots],
                        starts=[get(f"{base}-starts-{s}") for s in slots],
                        counts=[get(f"{base}-counts-{s}") for s in slots],
                        dead=np.array(get(f"{base}-dead")),
                    )
                )
            for kind in _KINDS:
                for i, _ in enumerate(meta[kind]):
                    base = f"{kind}-{i}"
                    index._exact[kind].append(
                        ExactSegment(
                            key=get(f"{base}-key"),
                            rest=get(f"{base}-rest"),
                            ids=get(f"{base}-ids"),
                            dead=np.array(get(f"{base}-dead")),
                        )
                    )
        except (KeyError, TypeError, ValueError, MatchingError) as exc:
            if isinstance(exc, IndexCorruptError):
                raise
            raise IndexCorruptError("saved index does not describe a valid index") from exc
        return index
