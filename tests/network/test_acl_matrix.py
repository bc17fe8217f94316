"""Mutual TLS and ACLs on the real broker: every (agency, topic, operation) matches the layout."""

from __future__ import annotations

import asyncio

import pytest

from broker.acls import acl_bindings, apply_acls
from broker.devtools.chaos.scenarios.acl import can_join, can_read, can_write
from broker.errors import AccessDeniedError, TransportError
from broker.local import LocalCluster
from broker.topics import Operation, TopicLayout, access_matrix
from broker.transport import (
    KafkaConnection,
    ensure_compacted_topic,
    ensure_topics,
    translate_kafka_errors,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
AGENCIES = ["ES-PN", "DE-BKA"]


async def test_acl_matrix_holds_under_mutual_tls(kafka_tls_cluster: LocalCluster) -> None:
    layout = TopicLayout(prefix="acl")
    admin = kafka_tls_cluster.connection("admin")
    await ensure_topics(admin, layout=layout, agencies=AGENCIES, partitions=1)
    await apply_acls(admin, acl_bindings(layout, AGENCIES))
    topics = [t for a in AGENCIES for t in layout.agency_topics(a)] + [layout.audit]
    seed = admin.producer()
    await seed.start()
    try:
        for topic in topics:
            await seed.send_and_wait(topic, b"seed", partition=0)
    finally:
        await seed.stop()
    await asyncio.sleep(1.5)  # ACLs propagate through the metadata log
    allowed = {(p.principal, p.topic, p.operation) for p in access_matrix(layout, AGENCIES)}
    mismatches = []
    for agency in AGENCIES:
        conn = kafka_tls_cluster.connection(agency)
        for topic in topics:
            for op, probe in ((Operation.WRITE, can_write), (Operation.READ, can_read)):
                expected = (agency, topic, op) in allowed
                if await probe(conn, topic) != expected:
                    mismatches.append((agency, topic, op.value, expected))
    assert mismatches == []
    # Concretely, the examples of the issue:
    de = kafka_tls_cluster.connection("DE-BKA")
    assert not await can_read(de, layout.inbox("ES-PN"))
    assert not await can_write(de, layout.outbox("ES-PN"))
    assert not await can_join(de, layout.inbox("DE-BKA"), layout.consumer_group("ES-PN"))
    assert await can_join(de, layout.inbox("DE-BKA"), layout.consumer_group("DE-BKA"))


async def test_client_without_certificate_cannot_connect(kafka_tls_cluster: LocalCluster) -> None:
    plain = KafkaConnection(bootstrap=kafka_tls_cluster.bootstrap, client_id="no-cert")
    producer = plain.producer(request_timeout_ms=3000)
    with pytest.raises((TransportError, asyncio.TimeoutError)):
        with translate_kafka_errors("connect without TLS"):
            await asyncio.wait_for(producer.start(), 10)
    await producer.stop()


async def test_agency_cannot_write_another_owners_hash_list_under_mutual_tls(
    kafka_tls_cluster: LocalCluster,
) -> None:
    layout = TopicLayout(prefix="acllist")
    await apply_acls(kafka_tls_cluster.connection("admin"), acl_bindings(layout, AGENCIES))
    es, de = kafka_tls_cluster.connection("ES-PN"), kafka_tls_cluster.connection("DE-BKA")
    await asyncio.sleep(1.5)  # ACLs propagate through the metadata log
    es_list = layout.hashlist("ES-PN", "hotline")
    assert await ensure_compacted_topic(es, es_list)  # the owner creates its list's topic
    assert await can_write(es, es_list)
    assert await can_read(de, es_list)  # every agency may subscribe
    assert not await can_write(de, es_list)  # only the owner writes (a forged update)
    with pytest.raises(AccessDeniedError):  # nor may it create a list in another's name
        await ensure_compacted_topic(de, layout.hashlist("ES-PN", "forged"))
