"""The ceiling: plain aiokafka produce and consume on the same broker, same client settings.

Random bytes of the dossier's size, a random 16-byte key per record (as the agency
node uses), the producer the node uses (:meth:`KafkaConnection.producer`:
idempotent, ``acks=all``) sending in the same pipelined chunks, and a consumer
configured as the inbox consumer (``read_committed``, manual commit after every
fetched batch). Only the cryptography, Avro and de-duplication are missing.

Example (not run here: it needs Kafka)::

    rate = await produce(conn, topic="b0.plain", size=4096, count=3000)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition

from broker.devtools.bench.workload import BenchError
from broker.transport import KafkaConnection, translate_kafka_errors

__all__ = ["CHUNK", "WINDOW", "consume", "pipelined", "produce"]

#: Records handed to the producer together (secure: one Merkle batch signature each).
CHUNK = 64
#: Chunks in flight at once: sealing chunk k+1 overlaps the acknowledgement of chunk k.
WINDOW = 4


async def pipelined(count: int, send_chunk: Callable[[int], Awaitable[object]]) -> float:
    """Send ``count`` records in chunks of :data:`CHUNK`, :data:`WINDOW` in flight; return /s."""
    window = asyncio.Semaphore(WINDOW)
    tasks: list[asyncio.Task[object]] = []

    async def one(n: int) -> object:
        try:
            return await send_chunk(n)
        finally:
            window.release()

    start = time.perf_counter()
    for done in range(0, count, CHUNK):
        await window.acquire()
        tasks.append(asyncio.create_task(one(min(CHUNK, count - done))))
    await asyncio.gather(*tasks)
    return count / (time.perf_counter() - start)


async def produce(conn: KafkaConnection, *, topic: str, size: int, count: int) -> float:
    """Produce ``count`` random records of ``size`` bytes to ``topic``; return records/s."""
    values = [os.urandom(size) for _ in range(CHUNK)]
    producer = conn.producer(client_id="bench-plain-producer")
    with translate_kafka_errors("start plain producer"):
        await producer.start()

    async def send_chunk(n: int) -> object:
        with translate_kafka_errors("plain produce"):
            futures = [
                await producer.send(topic, value=values[i], key=secrets.token_bytes(16))
                for i in range(n)
            ]
            return await asyncio.gather(*futures)

    try:
        return await pipelined(count, send_chunk)
    finally:
        await producer.stop()


async def consume(
    conn: KafkaConnection, *, topic: str, group: str, count: int, within: float = 180.0
) -> float:
    """Consume ``count`` records from ``topic``; return records/s from first to last record."""
    consumer = conn.consumer(topic, group_id=group, client_id="bench-plain-consumer")
    with translate_kafka_errors("start plain consumer"):
        await consumer.start()
    got, nbytes, first, last = 0, 0, 0.0, 0.0
    deadline = time.monotonic() + within
    try:
        while got < count:
            if time.monotonic() > deadline:
                raise BenchError("plain consumer timed out", detail=f"{got} of {count} on {topic}")
            with translate_kafka_errors("plain consume"):
                batch = await consumer.getmany(timeout_ms=200, max_records=200)
            for tp, records in batch.items():
                for record in records:
                    got += 1
                    nbytes += len(record.value or b"")
                    if got == 1:
                        first = time.perf_counter()
                    if got == count:
                        last = time.perf_counter()
                with translate_kafka_errors("plain commit"):
                    await consumer.commit(
                        {TopicPartition(tp.topic, tp.partition): records[-1].offset + 1}
                    )
    finally:
        await consumer.stop()
    return (count - 1) / max(last - first, 1e-9)
