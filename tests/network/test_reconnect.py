"""The broker goes away and comes back: router, publisher and consumer carry on, nothing lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.agency import AgencyNode, Delivery
from broker.config import Settings
from broker.federation import init_federation
from broker.local import LocalCluster
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.topics import TopicLayout
from broker.transport import ensure_topics
from broker.trust import load_trust

pytestmark = pytest.mark.slow


async def _until(predicate: object, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def test_services_reconnect_after_the_broker_restarts(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    cluster = await LocalCluster.start(
        state_dir=tmp_path / "kafka", cache_dir=settings.cache_dir, nodes=1
    )
    try:
        settings = Settings(home=tmp_path / "home", kafka_bootstrap=cluster.bootstrap)
        init_federation(settings, agencies=["ES-PN", "DE-BKA"])
        layout = TopicLayout(prefix=settings.topic_prefix)
        conn = cluster.connection()
        await ensure_topics(conn, layout=layout, agencies=["ES-PN", "DE-BKA"], partitions=1)
        stop = asyncio.Event()
        router = Router(conn=conn, layout=layout, check=EnvelopeCheck(trust=load_trust(settings)))
        got: list[str] = []

        async def handler(delivery: Delivery) -> None:
            got.append(delivery.envelope_id)

        consumer = AgencyNode.load(settings, agency="DE-BKA", conn=conn)
        tasks = [
            asyncio.create_task(router.run(stop=stop)),
            asyncio.create_task(consumer.consume(handler=handler, stop=stop, send_receipts=False)),
        ]
        sent = []
        async with AgencyNode.load(settings, agency="ES-PN", conn=conn) as sender:
            for i in range(5):
                sent.append(
                    (await sender.publish_dossier(example_dossier(i), to=["DE-BKA"])).envelope_id
                )
            await _until(lambda: len(got) >= 5, 60)

            cluster.kill_node(1)
            await asyncio.sleep(3)
            cluster.restart_node(1)
            await cluster.wait_ready(ready_timeout=120)

            for i in range(5, 10):
                sent.append(
                    (await sender.publish_dossier(example_dossier(i), to=["DE-BKA"])).envelope_id
                )
            await _until(lambda: len(got) >= 10, 120)
        stop.set()
        await asyncio.gather(*tasks)
        await consumer.close()
        assert sorted(got) == sorted(sent)
    finally:
        await cluster.stop()
