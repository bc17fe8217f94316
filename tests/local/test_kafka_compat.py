"""aiokafka 0.14 against the pinned Kafka: the features the broker relies on, proven."""

from __future__ import annotations

from broker.transport import KafkaConnection
from tests.kafka_helpers import create_topic, read_all


async def test_produce_and_consume_with_a_group_commits_offsets(
    kafka_conn: KafkaConnection, unique: str
) -> None:
    topic, group = f"compat.group.{unique}", f"g.{unique}"
    await create_topic(kafka_conn, topic, partitions=3)
    producer = kafka_conn.producer()
    await producer.start()
    try:
        for i in range(30):
            await producer.send(topic, f"m{i}".encode(), key=str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = kafka_conn.consumer(topic, group_id=group)
    await consumer.start()
    seen: list[bytes] = []
    try:
        while len(seen) < 30:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                seen.extend(r.value for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"m{i}".encode() for i in range(30))

    # A new member of the same group starts after the committed offsets: nothing left.
    again = kafka_conn.consumer(topic, group_id=group)
    await again.start()
    try:
        batch = await again.getmany(timeout_ms=2000)
    finally:
        await again.stop()
    assert sum(len(r) for r in batch.values()) == 0


async def test_idempotent_producer_with_acks_all(kafka_conn: KafkaConnection, unique: str) -> None:
    topic = f"compat.idem.{unique}"
    await create_topic(kafka_conn, topic)
    producer = kafka_conn.producer(enable_idempotence=True, acks="all")
    await producer.start()
    try:
        metas = [await producer.send_and_wait(topic, f"i{i}".encode()) for i in range(20)]
    finally:
        await producer.stop()
    assert [m.offset for m in metas] == list(range(20))
    assert await read_all(kafka_conn, topic, expect=20) == [f"i{i}".encode() for i in range(20)]


async def test_transactions_are_visible_only_when_committed(
    kafka_conn: KafkaConnection, unique: str
) -> None:
    topic = f"compat.txn.{unique}"
    await create_topic(kafka_conn, topic)
    producer = kafka_conn.producer(transactional_id=f"compat-{unique}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()
    committed = await read_all(kafka_conn, topic, expect=3)
    assert committed == [b"committed-1", b"committed-2", b"committed-3"]
    # read_uncommitted sees the aborted record too, proving the abort really happened.
    everything = await read_all(kafka_conn, topic, expect=4, isolation_level="read_uncommitted")
    assert b"aborted" in everything
