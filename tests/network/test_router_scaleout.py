"""Several routers share the outboxes: per-partition transactional ids fence a zombie."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiokafka import TopicPartition

from broker.errors import TransportError
from broker.router import EnvelopeCheck, Router
from broker.router.fencing import PartitionProducers, fenced
from broker.synthetic import example_dossier
from broker.transport import translate_kafka_errors
from broker.trust import load_trust
from tests.kafka_helpers import read_all
from tests.network.conftest import Network
from tests.network.test_router_crash import _ids

pytestmark = pytest.mark.kafka


async def test_zombie_router_cannot_commit_once_a_successor_claims_its_partition(
    network: Network,
) -> None:
    """A router that lost its partition (but does not know it) is fenced: nothing it wrote shows."""
    tp = TopicPartition(network.layout.outbox("ES-PN"), 0)
    inbox = network.layout.inbox("DE-BKA")
    prefix = f"{network.layout.router_group}.test"
    consumers = [network.conn.consumer(group_id=network.layout.router_group) for _ in range(2)]
    owners = [PartitionProducers(conn=network.conn, prefix=prefix) for _ in range(2)]
    try:
        for consumer, owner in zip(consumers, owners, strict=True):
            await consumer.start()
            consumer.assign([tp])
            owner.consumer = consumer
        zombie, successor = owners
        await zombie.claim({tp})
        producer = zombie.get(tp)
        assert producer is not None
        await producer.begin_transaction()
        await (await producer.send(inbox, value=b"zombie write"))
        await successor.claim({tp})  # the same transactional id: the zombie's epoch is over
        with pytest.raises(TransportError) as caught:
            with translate_kafka_errors("zombie commit"):
                await producer.commit_transaction()
        assert fenced(caught.value)
        assert zombie.transactional_id(tp) == successor.transactional_id(tp)
        # Under read_committed the zombie's write never appears (its transaction was aborted).
        assert await read_all(network.conn, inbox, expect=1, timeout=3.0) == []
    finally:
        for owner in owners:
            await owner.close()
        for consumer in consumers:
            await consumer.stop()


async def test_two_routers_route_a_stream_exactly_once(network: Network) -> None:
    count = 120

    def router() -> Router:
        return Router(
            conn=network.conn,
            layout=network.layout,
            check=EnvelopeCheck(trust=load_trust(network.settings)),
            transactional_id=f"{network.layout.router_group}.test",
            max_batch=10,
        )

    routers = [router(), router()]
    runs = [asyncio.create_task(r.run(until_idle=6.0)) for r in routers]
    async with network.node("ES-PN") as sender:
        results = await sender.publish_many(
            [example_dossier(i).to_bytes() for i in range(count)],
            kind="DOSSIER",
            codes=example_dossier(0).codes.to_avro(),
            to=["DE-BKA"],
        )
    stats = await asyncio.gather(*runs)
    delivered = Counter(
        _ids(await read_all(network.conn, network.layout.inbox("DE-BKA"), expect=count))
    )
    assert set(delivered) == {r.envelope_id for r in results}
    assert max(delivered.values()) == 1
    assert sum(s.consumed for s in stats) == count
