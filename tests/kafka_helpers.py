"""Small helpers for tests against the real broker."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from broker.transport import KafkaConnection


async def create_topic(
    conn: KafkaConnection,
    name: str,
    *,
    partitions: int = 1,
    replication: int = 1,
    configs: dict[str, str] | None = None,
) -> None:
    """Create a topic with AIOKafkaAdminClient and wait until its metadata is visible."""
    async with conn.admin() as admin:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication, topic_configs=configs or {})]
        )
        # aiokafka returns per-topic error codes instead of raising; 36 = already exists.
        for topic, code, *message in response.topic_errors:
            if code not in (0, 36):
                raise AssertionError(f"creating topic {topic} failed: error {code} {message}")
        for _ in range(50):
            if name in await admin.list_topics():
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"topic {name} never appeared")


async def alter_topic(conn: KafkaConnection, name: str, configs: dict[str, str]) -> None:
    """Set topic-level configs (e.g. a small ``max.message.bytes``) on an existing topic."""
    async with conn.admin() as admin:
        responses = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)]
        )
    for response in responses:
        for code, message, *_ in response.resources:
            if code:
                raise AssertionError(f"altering {name} failed: error {code} {message}")


async def read_all(
    conn: KafkaConnection,
    topic: str,
    *,
    expect: int,
    timeout: float = 30.0,
    isolation_level: str = "read_committed",
) -> list[bytes]:
    """Read ``topic`` from the beginning until ``expect`` records or ``timeout`` elapse."""
    consumer = conn.consumer(topic, group_id=None, isolation_level=isolation_level)
    await consumer.start()
    values: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(values) < expect and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                values.extend(r.value for r in records)
        # One more short poll to catch anything beyond the expected count.
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            values.extend(r.value for r in records)
    finally:
        await consumer.stop()
    return values


async def expire_everything(conn: KafkaConnection, topic: str) -> dict[TopicPartition, int]:
    """Advance every partition's log start offset to its end, as retention would."""
    async with conn.admin() as admin:
        (described,) = await admin.describe_topics([topic])
        parts = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        consumer = conn.consumer(group_id=None)
        await consumer.start()
        try:
            consumer.assign(parts)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        finally:
            await consumer.stop()
        await admin.delete_records({tp: RecordsToDelete(end) for tp, end in ends.items()})
    return ends
