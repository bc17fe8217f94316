"""Read the audit topic from offset 0 as raw records (exact bytes, in log order).

Every partition is read from its beginning up to the end offset found when the
replay starts (later appends are left for the next replay), ``read_committed``.
``progress(done, total)`` is called as records arrive.

Example::

    records = await read_topic(conn, "fed.audit", progress=bar.update)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import TopicPartition

from broker.audit.findings import RawRecord
from broker.errors import AuditError
from broker.transport import KafkaConnection, translate_kafka_errors

__all__ = ["read_topic"]

Progress = Callable[[int, int], None]


async def _partitions(conn: KafkaConnection, topic: str) -> list[int]:
    async with conn.admin() as admin:
        with translate_kafka_errors("describe the audit topic"):
            described = await admin.describe_topics([topic])
    for entry in described:
        if entry.get("topic") == topic and entry.get("error_code", 0) == 0:
            found = [int(p["partition"]) for p in entry.get("partitions", [])]
            if found:
                return found
    raise AuditError("no such audit topic", detail=topic)


async def read_topic(
    conn: KafkaConnection,
    topic: str,
    *,
    progress: Progress | None = None,
    deadline_s: float = 120.0,
    sink: Callable[[RawRecord], None] | None = None,
) -> list[RawRecord]:
    """Return every record of ``topic`` present now, partition by partition in offset order.

    With ``sink`` each record is handed over as it arrives (constant memory for long
    replays) and the returned list is empty.
    """
    consumer = conn.consumer(group_id=None, client_id="audit-replay", fetch_max_bytes=16 << 20)
    out: list[RawRecord] = []
    with translate_kafka_errors("replay the audit topic"):
        await consumer.start()
        try:
            partitions = await _partitions(conn, topic)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            total = sum(end[tp] - begin[tp] for tp in tps)
            if begin and any(begin[tp] > 0 for tp in tps):
                raise AuditError(
                    "the audit topic no longer starts at offset 0 (retention or deletion)",
                    detail=", ".join(f"{tp.partition}:{begin[tp]}" for tp in tps if begin[tp]),
                )
            remaining = {tp for tp in tps if end[tp] > begin[tp]}
            done = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + deadline_s
            while remaining:
                if loop.time() > deadline:
                    raise AuditError("audit replay timed out", detail=f"{done} of {total}")
                batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
                for tp, records in batch.items():
                    raw = [
                        RawRecord(
                            partition=r.partition, offset=r.offset, key=r.key, value=r.value or b""
                        )
                        for r in records
                    ]
                    done += len(raw)
                    if sink is None:
                        out.extend(raw)
                    else:
                        for record in raw:
                            sink(record)
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
                if progress is not None:
                    progress(done, total)
        finally:
            await consumer.stop()
    return out
