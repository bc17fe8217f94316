"""Process CPU time to publish one 4 KiB dossier to 3 recipients, offline, whole node path.

:func:`publish_cpu_us` runs :meth:`AgencyNode.publish_many` in chunks of
:data:`CHUNK` (one Merkle batch signature each, as the throughput bench and the
latency publisher do): durable sequence numbers, seal, the self-check of the batch
signature, the size check, the hand-over to the producer (one that acknowledges
at once: :mod:`broker.devtools.bench.offline`), the sent-log and the ``PUBLISH``
audit events in the real SQLite store and audit journal. No crypto workers: the
figure is the CPU one envelope costs, wherever it would run.

Example (slow: it seals)::

    us = publish_cpu_us("classic", 640)
"""

from __future__ import annotations

import asyncio
import time

from broker.devtools.bench.offline import (
    OfflineConnection,
    close_offline,
    offline_federation,
    offline_node,
)
from broker.devtools.bench.workload import RECIPIENTS, SENDER, dossier

__all__ = ["CHUNK", "SIZE", "TO", "publish_cpu_us"]

#: Envelopes per ``publish_many`` call (one batch signature), as in the throughput bench.
CHUNK = 64
#: The headline workload: 4 KiB dossiers to 3 recipients.
SIZE = 4096
TO = RECIPIENTS[:3]


def publish_cpu_us(suite: str, n: int) -> float:
    """Return process CPU microseconds per envelope to publish ``n`` dossiers (after a warm-up)."""
    return asyncio.run(_publish_cpu_us(suite, n))


async def _publish_cpu_us(suite: str, n: int) -> float:
    message = dossier(SIZE)
    payload, codes = message.to_bytes(), message.codes.to_avro()
    with offline_federation() as (fed, state):
        conn = OfflineConnection()
        node = offline_node(fed, SENDER, state=state, conn=conn, suite=suite)
        try:
            await node.publish_many([payload] * CHUNK, kind="DOSSIER", codes=codes, to=TO)
            done = 0
            started = time.process_time()
            while done < n:
                size = min(CHUNK, n - done)
                await node.publish_many([payload] * size, kind="DOSSIER", codes=codes, to=TO)
                done += size
            spent = time.process_time() - started
        finally:
            close_offline(node)
    return spent * 1e6 / n
