"""Count what a chaos run handled, independently of the code under test's own counters.

* **sent** (:class:`~broker.devtools.chaos.publisher.ChaosPublisher`): the envelope
  ids the harness sealed and Kafka acknowledged, with the wall-clock time each
  was handed to the producer;
* **handled** (:func:`handled_at`): the envelope ids in each recipient's inbox
  (stored in the same transaction as the de-duplication mark, after decrypt and
  validation) with the time they were stored, read through a read-only
  :class:`~broker.agency.store.AgencyStore`;
* **handler calls** (:func:`handler_calls`): DE-BKA's inbox handler prints one JSON
  line per call; the lines are counted per envelope id, so a record handed to the
  handler twice shows up even though the store keeps it once.

Example::

    >>> recovery_seconds(10.0, {"a": 9.0, "b": 11.0}, {"a": 9.5, "b": 12.5})
    2.5
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from broker.agency.store import AgencyStore

__all__ = ["handled_at", "handler_calls", "recovery_seconds", "wait_handled"]

log = logging.getLogger(__name__)


def handled_at(db: Path, *, kind: str = "DOSSIER") -> dict[str, float]:
    """Return envelope id -> time stored, from the agency store at ``db`` (read-only)."""
    if not db.exists():
        return {}
    store = AgencyStore.open_read_only(db)
    try:
        return store.handled_times(kind=kind)
    finally:
        store.close()


def handler_calls(json_lines: Path) -> Counter[str]:
    """Count handler invocations per envelope id in an inbox process's JSON-lines output."""
    calls: Counter[str] = Counter()
    if not json_lines.exists():
        return calls
    for line in json_lines.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("kind") == "DOSSIER":
            calls[str(doc["envelope_id"])] += 1
    return calls


def recovery_seconds(
    fault_at: float, sent_at: dict[str, float], handled: dict[str, float]
) -> float | None:
    """Return seconds from ``fault_at`` until the first record sent after it was handled."""
    after = [handled[i] for i, t in sent_at.items() if t >= fault_at and i in handled]
    return max(0.0, min(after) - fault_at) if after else None


async def wait_handled(
    handled: Callable[[str], dict[str, float]],
    expected: dict[str, set[str]],
    *,
    stall: float = 60.0,
    limit: float = 3600.0,
) -> float:
    """Wait until every expected id is ``handled``, or nothing new for ``stall`` seconds.

    ``handled(agency)`` returns what that agency handled so far. Returns the
    wall-clock time the last expected id was seen handled (or now).
    """
    deadline = time.monotonic() + limit
    last_progress, last_count = time.monotonic(), -1
    while time.monotonic() < deadline:
        done = 0
        for agency, ids in expected.items():
            done += len(ids & handled(agency).keys())
        if done >= sum(len(ids) for ids in expected.values()):
            return time.time()
        if done != last_count:
            last_progress, last_count = time.monotonic(), done
        elif time.monotonic() - last_progress > stall:
            log.warning("no progress for %.0f s: %d handled", stall, done)
            break
        await asyncio.sleep(0.5)
    return time.time()
