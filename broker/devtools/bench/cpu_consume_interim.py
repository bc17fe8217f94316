"""Interim: process CPU time to consume one 4 KiB/3-recipient dossier, offline, whole node path.

Stands in for ``broker.devtools.bench.cpu_consume.consume_cpu_us`` (same signature),
which the consume-batching work provides; :func:`broker.devtools.bench.cpu.consume_cpu`
picks that one whenever it exists. This one: ``n`` dossiers are sealed to
:data:`~broker.devtools.bench.cpu_publish.TO` by the real publisher (not timed), then
the first recipient's :meth:`AgencyNode.consume` reads them from an offline consumer
(:mod:`broker.devtools.bench.offline`) in fetches of the node's own size: decode,
verify, open, validate the dossier, replay check, store and ``OPEN`` audit events in
the real SQLite store and journal, offset commits. Receipts off (they are a publish).

Example (slow: it seals and opens)::

    us = consume_cpu_us("classic", 640)
"""

from __future__ import annotations

import asyncio
import time

from broker.devtools.bench.cpu_publish import CHUNK, SIZE, TO
from broker.devtools.bench.offline import (
    OfflineConnection,
    OfflineRecord,
    close_offline,
    offline_federation,
    offline_node,
)
from broker.devtools.bench.workload import SENDER, BenchError, dossier

__all__ = ["consume_cpu_us"]


def consume_cpu_us(suite: str, n: int) -> float:
    """Return process CPU microseconds per envelope to consume ``n`` dossiers."""
    return asyncio.run(_consume_cpu_us(suite, n))


async def _consume_cpu_us(suite: str, n: int) -> float:
    message = dossier(SIZE)
    payload, codes = message.to_bytes(), message.codes.to_avro()
    with offline_federation() as (fed, state):
        out = OfflineConnection()
        sender = offline_node(fed, SENDER, state=state, conn=out, suite=suite)
        try:
            for _ in range(-(-n // CHUNK) + 1):  # one extra chunk: the warm-up
                await sender.publish_many([payload] * CHUNK, kind="DOSSIER", codes=codes, to=TO)
        finally:
            close_offline(sender)
        records = [
            OfflineRecord(f"cpu.inbox.{TO[0]}", 0, i, r.key, r.value, r.headers)
            for i, r in enumerate(out.sent)
        ]
        warm, timed = records[:CHUNK], records[CHUNK : CHUNK + n]
        conn = OfflineConnection(inbox=warm)
        receiver = offline_node(fed, TO[0], state=state, conn=conn, suite=suite)
        try:
            await receiver.consume(until_idle=0.0, send_receipts=False)
            conn.inbox[:] = [
                OfflineRecord(r.topic, 0, CHUNK + i, r.key, r.value, r.headers)
                for i, r in enumerate(timed)
            ]
            started = time.process_time()
            stats = await receiver.consume(until_idle=0.0, send_receipts=False)
            spent = time.process_time() - started
        finally:
            close_offline(receiver)
    if stats.delivered != n:
        raise BenchError("offline consume lost dossiers", detail=f"{stats.delivered} of {n}")
    return spent * 1e6 / n
