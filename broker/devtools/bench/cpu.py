"""CPU time per envelope of the envelope layer alone: seal_batch and Verifier.open, offline.

No Kafka, no store, no audit: :func:`broker.envelope.seal_batch` in batches of 64 and a
long-lived consumer :class:`broker.envelope.Verifier` opening every envelope for one
recipient (batch signatures and version 2 batch secrets cached as in a node).
Process CPU time (``time.process_time``), so a busy machine does not distort the
figure much; each figure is the median of ``runs`` runs over ``count`` envelopes.
Run ``python -m broker.devtools.bench.cpu`` for the JSON of both suites.

Example::

    >>> us = envelope_cpu_us(suite="classic", count=4, batch=2, runs=1)
    >>> sorted(us), us["seal_batch"] > 0 and us["open"] > 0
    (['open', 'seal_batch'], True)
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

from broker.devtools.bench.workload import RECIPIENTS, SENDER, dossier
from broker.envelope import DEFAULT_KEY_GRACE, SealRequest, Verifier, seal_batch
from broker.trust.testing import UnsafeTestFederation

__all__ = ["envelope_cpu_report", "envelope_cpu_us"]


def envelope_cpu_us(
    *,
    suite: str,
    count: int = 2000,
    batch: int = 64,
    size: int = 4096,
    recipients: int = 3,
    runs: int = 5,
    fed: UnsafeTestFederation | None = None,
) -> dict[str, float]:
    """Return median CPU µs per envelope: ``{"seal_batch": ..., "open": ...}``.

    ``count`` envelopes of a ``size``-byte dossier to ``recipients`` agencies, sealed
    in batches of ``batch``; opened by the first recipient with one Verifier per run.
    """
    fed = fed or UnsafeTestFederation.create(agencies=[SENDER, *RECIPIENTS[:recipients]])
    message = dossier(size)
    payload, codes = message.to_bytes(), message.codes.to_avro()
    to = RECIPIENTS[:recipients]
    sender, reader = fed.identity(SENDER), fed.identity(to[0])
    seal_us: list[float] = []
    open_us: list[float] = []
    for _ in range(runs):
        chunks = [
            [
                SealRequest(payload=payload, kind="DOSSIER", codes=codes, recipients=to, sequence=i)
                for i in range(start + 1, min(start + batch, count) + 1)
            ]
            for start in range(0, count, batch)
        ]
        start = time.process_time()
        sealed = [
            data
            for chunk in chunks
            for data in seal_batch(chunk, sender=sender, trust=fed.trust, suite=suite)
        ]
        seal_us.append((time.process_time() - start) / count * 1e6)
        verifier = Verifier(trust=fed.trust, key_grace=DEFAULT_KEY_GRACE)
        start = time.process_time()
        for data in sealed:
            verifier.open(data, identity=reader)
        open_us.append((time.process_time() - start) / count * 1e6)
    return {"seal_batch": statistics.median(seal_us), "open": statistics.median(open_us)}


def envelope_cpu_report(*, count: int = 2000, runs: int = 5) -> dict[str, Any]:
    """Return both suites' figures (4 KiB, 3 recipients, batches of 64) and the load average."""
    out: dict[str, Any] = {"loadavg_1m_before": round(os.getloadavg()[0], 2)}
    fed = UnsafeTestFederation.create(agencies=[SENDER, *RECIPIENTS[:3]])
    for suite, key in (("classic", "classic"), ("pq-hybrid", "pq")):
        us = envelope_cpu_us(suite=suite, count=count, runs=runs, fed=fed)
        out[f"cpu_us_seal_batch64_{key}"] = round(us["seal_batch"], 1)
        out[f"cpu_us_open_{key}"] = round(us["open"], 1)
    out["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(envelope_cpu_report(), indent=1))
