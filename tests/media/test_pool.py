"""Many items over worker processes: results in order, never more than in_flight pending."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

import pytest

from broker.media.pool import ordered_map, start_method


def _square(n: int) -> int:
    return n * n


def _die_on_3(n: int) -> int:
    if n == 3:
        os._exit(1)  # what a decoder segfault looks like from the parent
    return n


def test_results_come_back_in_item_order_from_two_processes() -> None:
    assert list(ordered_map(_square, range(50), workers=2, in_flight=3)) == [
        n * n for n in range(50)
    ]


def test_items_are_pulled_lazily_so_memory_stays_bounded() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for n in range(10_000):
            pulled += 1
            yield n

    results = ordered_map(_square, items(), workers=2, in_flight=4)
    assert next(results) == 0
    assert pulled == 4  # not 10,000: at most in_flight submitted ahead of the consumer
    assert next(results) == 1 and pulled == 5
    results.close()  # stopping early cancels the rest and shuts the workers down
    assert pulled == 5


def test_one_worker_runs_in_this_process() -> None:
    assert list(ordered_map(_square, iter([3, 4]), workers=1)) == [9, 16]


def test_a_worker_that_dies_is_reported_not_hidden() -> None:
    with pytest.raises(BrokenProcessPool):
        list(ordered_map(_die_on_3, range(6), workers=2))


def test_workers_are_spawned_not_forked_while_another_thread_runs() -> None:
    # A fresh interpreter has one thread: there the workers fork (on Linux). The test process
    # itself may run other threads (Kafka fixtures, telemetry), so ask a child process.
    code = "from broker.media.pool import start_method; print(start_method())"
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert alone.stdout.strip() == ("fork" if sys.platform == "linux" else "spawn")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        other.join()
