"""Kill one broker of three while an idempotent acks=all producer sends 2,000 records."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from broker.local import LocalCluster
from tests.kafka_helpers import create_topic, read_all

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RECORDS = 2_000


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
        for i in range(RECORDS):
            payload = f"rec-{i:05d}".encode()
            pending.append(await producer.send(topic, payload, key=str(i).encode()))
            if i == 700:
                # Kill only once the stream is flowing (early records acknowledged), so
                # in-flight batches and the 1,300 records still to come meet the failure.
                await pending[300]
                kafka_cluster.kill_node(victim)
            if i % 200 == 0:
                await asyncio.sleep(0.05)  # let batches go out between bursts
        results = await asyncio.gather(*pending)
    finally:
        await producer.stop()
    assert len(results) == RECORDS
    assert kafka_cluster.nodes[1].pid not in kafka_cluster.running_pids()

    kafka_cluster.restart_node(victim)
    await kafka_cluster.wait_ready(ready_timeout=120)

    values = await read_all(conn, topic, expect=RECORDS, timeout=60)
    ids = Counter(int(v.decode().removeprefix("rec-")) for v in values)
    assert set(ids) == set(range(RECORDS)), f"missing: {sorted(set(range(RECORDS)) - set(ids))}"
    assert [i for i, n in ids.items() if n != 1] == [], "duplicated records"
    assert len(values) == RECORDS
