"""Kill one broker of three while an idempotent acks=all producer sends 2,000 records."""

from __future__ import annotations

import asyncio

import pytest

from broker.local import LocalCluster
from tests.kafka_helpers import create_topic, read_all

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


async def test_sigkill_of_one_broker_loses_and_duplicates_nothing(
    kafka_cluster: LocalCluster, unique: str
) -> None:
    conn = kafka_cluster.connection()
    topic = f"kill.{unique}"
    await create_topic(
        conn, topic, partitions=3, replication=3, configs={"min.insync.replicas": "2"}
    )
    producer = conn.producer(
        enable_idempotence=True, acks="all", request_timeout_ms=30_000, retry_backoff_ms=200
    )
    await producer.start()
    victim = kafka_cluster.nodes[1].node_id
    try:
        pending = []
        for i in range(2_000):
            pending.append(await producer.send(topic, f"rec-{i:05d}".encode(), key=str(i).encode()))
            if i == 700:
                kafka_cluster.kill_node(victim)
            if i % 200 == 0:
                await asyncio.sleep(0.05)  # let the kill land mid-stream, not after the batch
        results = await asyncio.gather(*pending)
    finally:
        await producer.stop()
    assert len(results) == 2_000
    assert victim not in [
        n.node_id for n in kafka_cluster.nodes if n.pid in kafka_cluster.running_pids()
    ]

    kafka_cluster.restart_node(victim)
    await kafka_cluster.wait_ready(ready_timeout=120)

    values = await read_all(conn, topic, expect=2_000, timeout=60)
    assert len(values) == 2_000, f"read {len(values)} records"
    assert set(values) == {f"rec-{i:05d}".encode() for i in range(2_000)}
