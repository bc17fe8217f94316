"""Secure publish and consume through the real agency node code paths.

* :func:`publish` — :meth:`AgencyNode.publish_many`: durable sequence numbers,
  seal (fresh content key, AES-256-GCM once, one HPKE wrap per recipient, key
  commitment) under one Merkle batch signature per chunk (Ed25519, plus ML-DSA-65
  for pq-hybrid), produce with the node's idempotent ``acks=all`` producer, and
  record what was sent — in the same pipelined chunks as the plain producer. The
  runner gives the node ``crypto_workers`` (both cores seal; one signature per part).
* :func:`consume` — :meth:`AgencyNode.consume`, unchanged: decode (canonical
  bytes only), version/suite/expiry checks, sender certificate and revocation
  checks, signature(s) (batch roots verified once, cached), recipients, unwrap,
  commitment, decrypt, inner binding, Avro decode and pydantic validation of the
  dossier, the persistent replay check and the atomic seen-mark + store in
  SQLite, offset commit; with ``crypto_workers`` the ``Verifier.open`` part runs
  in forked worker processes, the rest in order in the node. Receipts are not
  sent (``send_receipts=False``): they are a publish of their own, measured by
  :func:`publish`.

Example (not run here: it needs Kafka)::

    rate = await publish(node, payload=p, codes=c, to=["DE-BKA"], suite="classic", count=3000)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from broker.agency import AgencyNode, Delivery
from broker.devtools.bench.plain import pipelined
from broker.devtools.bench.workload import BenchError
from broker.transport import KafkaConnection, translate_kafka_errors

__all__ = ["consume", "copy_records", "publish"]


async def publish(
    node: AgencyNode,
    *,
    payload: bytes,
    codes: dict[str, Any],
    to: list[str],
    suite: str,
    count: int,
) -> float:
    """Seal and publish ``count`` dossiers to ``to``; return envelopes/s (acknowledged)."""
    await node.start()

    async def send_chunk(n: int) -> object:
        return await node.publish_many(
            [payload] * n, kind="DOSSIER", codes=codes, to=to, suite=suite
        )

    return await pipelined(count, send_chunk)


async def consume(node: AgencyNode, *, count: int, within: float = 300.0) -> float:
    """Consume ``count`` envelopes from ``node``'s inbox; return envelopes/s, first to last."""
    got, first, last = 0, 0.0, 0.0
    stop = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        nonlocal got, first, last
        if delivery.dossier is None:
            raise BenchError("delivery without a decoded dossier")
        got += 1
        if got == 1:
            first = time.perf_counter()
        if got == count:
            last = time.perf_counter()
            stop.set()

    try:
        stats = await asyncio.wait_for(
            node.consume(handler=handler, stop=stop, send_receipts=False), within
        )
    except TimeoutError:
        raise BenchError("secure consumer timed out", detail=f"{got} of {count}") from None
    if stats.rejected or got != count:
        raise BenchError("secure consume incomplete", detail=f"{got} of {count}, {stats}")
    return (count - 1) / max(last - first, 1e-9)


async def copy_records(
    conn: KafkaConnection, *, source: str, target: str, count: int, within: float = 180.0
) -> int:
    """Copy ``count`` records byte for byte from ``source`` to ``target``; return a record's size.

    Untimed set-up. This stands in for the router (which copies the exact bytes after
    verifying) so the consumer figure is the consumer's own; the router is measured end
    to end by :mod:`broker.devtools.bench.latency`.
    """
    consumer = conn.consumer(source, group_id=f"{source}.copy", client_id="bench-copy")
    producer = conn.producer(client_id="bench-copy")
    with translate_kafka_errors("start copy"):
        await consumer.start()
        await producer.start()
    copied, size = 0, 0
    deadline = time.monotonic() + within
    try:
        while copied < count:
            if time.monotonic() > deadline:
                raise BenchError("copy timed out", detail=f"{copied} of {count} from {source}")
            with translate_kafka_errors("copy"):
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                futures = [
                    await producer.send(target, value=r.value, key=r.key)
                    for records in batch.values()
                    for r in records
                ]
                await asyncio.gather(*futures)
            copied += len(futures)
            if futures and not size:
                size = len(next(r for rs in batch.values() for r in rs).value or b"")
    finally:
        await consumer.stop()
        await producer.stop()
    return size
