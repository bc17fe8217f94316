"""Run a function over many items on every core, in order, with bounded memory.

:func:`ordered_map` is ``map`` over worker processes: results come back in the
order of the items, and at most ``in_flight`` items are submitted and not yet
consumed, so a lazy input of any length (a walk over 360,000 files) never sits
in memory at once.

On Linux, when the caller runs no other thread, the workers are forked (as
:mod:`broker.envelope.pool` does): they start at once with everything imported,
instead of re-importing the caller's main module (the whole CLI) each. With other
threads running they are spawned instead, since a thread holding a lock at the
moment of a fork leaves it held forever in the child; that is why
``broker media hash`` redraws its progress bar from the main thread rather than
from rich's refresh thread. Elsewhere (macOS, Windows) workers are spawned.

With ``workers=1`` everything runs in the calling process (no pickling), which
is also what tests of single files use.

Example::

    >>> list(ordered_map(abs, [-3, 2, -1], workers=1))
    [3, 2, 1]
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

__all__ = ["ordered_map", "start_method"]


def start_method() -> str:
    """Return how workers start now: ``fork`` on Linux with no other thread, else ``spawn``."""
    # macOS system frameworks do not survive a fork, and Windows has none.
    single_threaded = threading.active_count() == 1
    return "fork" if sys.platform == "linux" and single_threaded else "spawn"


T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int, in_flight: int | None = None
) -> Generator[R, None, None]:
    """Yield ``fn(item)`` for each item, in order, computed by ``workers`` processes.

    ``fn`` and the items must pickle (a module-level function, or a
    ``functools.partial`` of one). ``in_flight`` defaults to four items per worker.
    A worker that dies raises ``concurrent.futures.process.BrokenProcessPool``.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        yield from map(fn, items)
        return
    limit = in_flight or 4 * workers
    context = multiprocessing.get_context(start_method())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # On an early stop (error, Ctrl-C, consumer closed) drop what has not started.
        pool.shutdown(wait=True, cancel_futures=True)
