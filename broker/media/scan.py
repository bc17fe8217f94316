"""Hash every file of a seized folder on every core, counting what could not be hashed.

A :class:`Scan` walks the folder (:mod:`broker.media.walk`: no symlink followed),
groups regular files into batches, hashes the batches in worker processes
(:mod:`broker.media.pool`, :mod:`broker.media.hashing`) and yields each hashed
file in walk order, so the same folder always gives the same output. Whatever
could not be hashed is counted in :attr:`Scan.summary`, and the first
:data:`PROBLEMS_KEPT` of those are listed there; nothing a file holds stops the run.

Example::

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "a.bin").write_bytes(b"abc")
    ...     scan = Scan(directory=Path(tmp), workers=1)
    ...     [f.path for f in scan.run()], scan.summary.files, scan.summary.images
    (['a.bin'], 1, 0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.errors import MediaWorkerError
from broker.media.hashing import FileHash, HashOptions, Outcome, hash_batch
from broker.media.pool import ordered_map
from broker.media.walk import EntryKind, resolve_root, walk
from broker.models.dossier import PDQ_MIN_QUALITY

__all__ = ["PROBLEMS_KEPT", "Problem", "Scan", "ScanSummary"]

#: How many problem paths a summary lists (every one is counted).
PROBLEMS_KEPT = 1_000
#: A batch (one task for a worker) closes at this many files or bytes, whichever first:
#: small files travel in groups (less inter-process overhead), big ones alone.
BATCH_FILES = 64
BATCH_BYTES = 8 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """A path that was not hashed, or hashed without a PDQ hash, and why."""

    path: str
    kind: str
    detail: str


@dataclass(kw_only=True)
class ScanSummary:
    """Counts of one scan; ``files`` = ``images`` + ``non_images`` + the two failed-image counts."""

    files: int = 0  # regular files hashed (SHA-256 and MD5)
    bytes: int = 0
    images: int = 0  # with a PDQ hash
    low_quality: int = 0  # of which PDQ quality < 50: kept, flagged, not to be matched on
    non_images: int = 0
    broken_images: int = 0  # an image format that did not decode: digests only
    oversized_images: int = 0  # more pixels than the limit: digests only
    unreadable: int = 0  # files not read, special files (FIFO, device), unlistable folders
    symlinks_inside: int = 0  # skipped: the target is hashed under its own path
    symlinks_outside: int = 0  # skipped: points outside the folder, or nowhere
    problems: list[Problem] = field(default_factory=list)
    problems_not_listed: int = 0

    @property
    def symlinks_skipped(self) -> int:
        """Every symbolic link met (none is followed)."""
        return self.symlinks_inside + self.symlinks_outside

    def add_problem(self, path: str, kind: str, detail: str | None) -> None:
        """List a path that was not hashed (or hashed without PDQ), up to PROBLEMS_KEPT."""
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(Problem(path=path, kind=kind, detail=detail or ""))
        else:
            self.problems_not_listed += 1

    def add(self, file: FileHash) -> None:
        """Count one hashed (or unreadable) file."""
        if file.outcome is Outcome.UNREADABLE:
            self.unreadable += 1
            self.add_problem(file.path, file.outcome.value, file.detail)
            return
        self.files += 1
        self.bytes += file.size
        if file.outcome is Outcome.IMAGE:
            self.images += 1
            if file.pdq_quality is not None and file.pdq_quality < PDQ_MIN_QUALITY:
                self.low_quality += 1
        elif file.outcome is Outcome.NOT_IMAGE:
            self.non_images += 1
        else:
            if file.outcome is Outcome.BROKEN_IMAGE:
                self.broken_images += 1
            else:
                self.oversized_images += 1
            self.add_problem(file.path, file.outcome.value, file.detail)

    def to_json(self) -> dict[str, Any]:
        """Return the counts and listed problems as JSON-ready values."""
        return {
            "files": self.files,
            "bytes": self.bytes,
            "images": self.images,
            "low_quality": self.low_quality,
            "non_images": self.non_images,
            "broken_images": self.broken_images,
            "oversized_images": self.oversized_images,
            "unreadable": self.unreadable,
            "symlinks_skipped": self.symlinks_skipped,
            "symlinks_outside": self.symlinks_outside,
            "problems": [
                {"path": p.path, "kind": p.kind, "detail": p.detail} for p in self.problems
            ],
            "problems_not_listed": self.problems_not_listed,
        }


class Scan:
    """One pass over a seized folder; iterate :meth:`run`, then read :attr:`summary`."""

    def __init__(
        self, *, directory: Path, workers: int = 1, options: HashOptions | None = None
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.root = resolve_root(directory)
        self.workers = workers
        self.options = options or HashOptions()
        self.summary = ScanSummary()

    def count(self) -> tuple[int, int]:
        """Return how many regular files and bytes :meth:`run` will read (a quick walk)."""
        files = size = 0
        for entry in walk(self.root):
            if entry.kind is EntryKind.FILE:
                files += 1
                size += entry.size
        return files, size

    def _batches(self) -> Iterator[list[str]]:
        batch: list[str] = []
        batch_bytes = 0
        for entry in walk(self.root):
            if entry.kind is EntryKind.FILE:
                batch.append(entry.path)
                batch_bytes += entry.size
                if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                    yield batch
                    batch, batch_bytes = [], 0
            elif entry.kind is EntryKind.SYMLINK_INSIDE:
                self.summary.symlinks_inside += 1
            elif entry.kind is EntryKind.SYMLINK_OUTSIDE:
                self.summary.symlinks_outside += 1
            else:
                self.summary.unreadable += 1
                self.summary.add_problem(entry.path, entry.kind.value, entry.detail)
        if batch:
            yield batch

    def run(self, *, progress: Callable[[FileHash], None] | None = None) -> Iterator[FileHash]:
        """Yield every hashed file in walk order; ``progress`` also sees unreadable ones."""
        job = functools.partial(hash_batch, root=str(self.root), options=self.options)
        try:
            for results in ordered_map(job, self._batches(), workers=self.workers):
                for file in results:
                    self.summary.add(file)
                    if progress is not None:
                        progress(file)
                    if file.sha256 is not None:
                        yield file
        except BrokenProcessPool as exc:
            raise MediaWorkerError(
                "a hashing worker process died; the files it held are not hashed",
                detail=f"{self.summary.files} files hashed before; {exc}",
            ) from exc
