"""Retention sweep cost against the number of held dossiers (no Kafka).

Fills a fresh agency store with ``dossiers`` fictitious dossiers (1 in 100 past its
review), then times, as process CPU, medians of ``runs``:

* ``due_cpu_ms`` — :func:`broker.agency.review.due`, what the inbox runs every
  ``review_every`` seconds when idle (reads the ``reviews`` index);
* ``scan_cpu_ms`` — the same answer by reading every stored dossier's codes (how the
  sweep worked before the index), for the ratio on the same machine and run.

Example::

    >>> out = run_retention_bench(dossiers=200, runs=1)
    >>> out["due"], out["agree"]
    (2, True)
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from broker.agency.ledger import ComplianceLedger
from broker.agency.review import due, review_at
from broker.agency.store import AgencyStore
from broker.models.codes import codes_from_json, codes_to_json
from broker.synthetic import example_dossier

__all__ = ["run_retention_bench"]

PERIOD = dt.timedelta(days=5 * 365)


def _scan(db: Any, *, now: float) -> list[tuple[str, str, str]]:
    out = []
    for envelope_id, sender, received_at, provenance in db.execute(
        "SELECT envelope_id, sender, received_at, provenance FROM inbox WHERE kind = 'DOSSIER'"
    ):
        codes = codes_from_json(json.loads(provenance)["codes"])
        at = review_at(received_at=received_at, codes=codes, period=PERIOD, extended=None)
        if at <= now:
            out.append((sender, envelope_id, codes["retention_review"].isoformat()))
    return out


def _cpu_ms(fn: Any, runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.process_time()
        result = fn()
        times.append((time.process_time() - t0) * 1000)
    return statistics.median(times), result


def run_retention_bench(*, dossiers: int = 100_000, runs: int = 5) -> dict[str, Any]:
    """Return the sweep's CPU cost with ``dossiers`` held (see the module docstring)."""
    now = time.time()
    base = example_dossier(1).codes.to_avro()
    past = json.dumps({"codes": codes_to_json({**base, "retention_review": dt.date(2020, 1, 1)})})
    later = json.dumps({"codes": codes_to_json({**base, "retention_review": dt.date(2099, 1, 1)})})
    with tempfile.TemporaryDirectory() as tmp:
        store = AgencyStore.open(Path(tmp) / "state.db")
        ledger = ComplianceLedger.open(store.path)
        rows = (
            (f"{i:032x}", "ES-PN", "DOSSIER", now, past if i % 100 == 0 else later, b"")
            for i in range(dossiers)
        )
        with ledger.db:
            ledger.db.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)", rows)
        due_ms, found = _cpu_ms(lambda: due(ledger.db, now=now, period=PERIOD), runs)
        scan_ms, scanned = _cpu_ms(lambda: _scan(ledger.db, now=now), runs)
        ledger.close()
        store.close()
    return {
        "dossiers": dossiers,
        "due": len(found),
        "runs": runs,
        "due_cpu_ms": round(due_ms, 3),
        "scan_cpu_ms": round(scan_ms, 3),
        "agree": sorted(found) == sorted(scanned),
    }
