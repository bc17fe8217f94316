"""The router killed with SIGKILL mid-stream and restarted loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from aiokafka import TopicPartition

from broker.codec import SchemaStore
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA
from broker.synthetic import example_dossier
from tests.kafka_helpers import read_all
from tests.network.conftest import Network

pytestmark = pytest.mark.slow
COUNT = 500


def _router(network: Network, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP=network.conn.bootstrap,
        BROKER_TOPIC_PREFIX=network.layout.prefix,
        BROKER_HOME=str(network.settings.home),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "broker", "router", "run", "--max-batch", "10", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def _committed(network: Network) -> int:
    """Committed records in DE-BKA's inbox (the last stable offset under read_committed)."""
    consumer = network.conn.consumer(group_id=None)
    await consumer.start()
    try:
        topic = network.layout.inbox("DE-BKA")
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    # Each committed transaction also writes one control record per partition.
    return sum(ends.values())


def _ids(values: list[bytes]) -> list[str]:
    store = SchemaStore.default()
    return [
        store.decode(HEADER_SCHEMA, store.decode(ENVELOPE_SCHEMA, v)["header"])["envelope_id"]
        for v in values
    ]


async def test_router_sigkilled_mid_stream_loses_and_duplicates_nothing(network: Network) -> None:
    dossier = example_dossier(21)
    async with network.node("ES-PN") as sender:
        sent = [
            (await sender.publish_dossier(dossier, to=["DE-BKA", "IT-PS"])).envelope_id
            for _ in range(COUNT)
        ]
    committed_at_kill = []
    for _round in range(2):
        proc = _router(network)
        # Kill it as soon as a few more transactions have committed: mid-stream.
        start = await _committed(network)
        while await _committed(network) < start + 20 and proc.poll() is None:
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)  # reap it and close its pipes
        assert proc.returncode == -signal.SIGKILL
        committed_at_kill.append(await _committed(network))
    assert 0 < committed_at_kill[0] < COUNT, committed_at_kill  # the kill landed mid-stream
    # Generous: on a loaded machine the restarted router may wait out the killed member's
    # session before it is assigned anything (with 4 s it once exited before routing all).
    final = _router(network, "--until-idle", "15")
    _, err = final.communicate(timeout=180)
    assert final.returncode == 0, err.decode()[-2000:]

    for agency in ("DE-BKA", "IT-PS"):
        values = await read_all(
            network.conn, network.layout.inbox(agency), expect=COUNT, timeout=30
        )
        counts = Counter(_ids(values))
        assert len(values) == COUNT, f"{agency}: {len(values)} records for {COUNT} sent"
        assert set(counts) == set(sent)
        assert max(counts.values()) == 1


async def test_router_and_inbox_stop_cleanly_on_sigterm(network: Network) -> None:
    async with network.node("ES-PN") as sender:
        await sender.publish_dossier(example_dossier(22), to=["DE-BKA"])
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP=network.conn.bootstrap,
        BROKER_TOPIC_PREFIX=network.layout.prefix,
        BROKER_HOME=str(network.settings.home),
    )
    router = _router(network)
    inbox = subprocess.Popen(
        [sys.executable, "-m", "broker", "inbox", "--as", "DE-BKA", "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Wait until the dossier has gone through both processes (so each has installed its
    # signal handlers and is mid-loop), however slow start-up is on a loaded machine.
    assert inbox.stdout is not None
    first = await asyncio.wait_for(asyncio.to_thread(inbox.stdout.readline), timeout=120)
    assert b"ES-PN -> DE-BKA" in first, first
    for proc in (router, inbox):
        proc.send_signal(signal.SIGTERM)
    r_out, r_err = router.communicate(timeout=30)
    i_out, i_err = inbox.communicate(timeout=30)
    i_out = first + i_out
    assert router.returncode == 0, r_err.decode()[-1500:]
    assert inbox.returncode == 0, i_err.decode()[-1500:]
    # The dossier, and DE-BKA's receipt if it was sent before the SIGTERM.
    assert b"routed 1," in r_out or b"routed 2," in r_out, r_out
    assert b"delivered 1" in i_out
