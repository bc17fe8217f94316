"""An agency's client certificate tries every forbidden read and write (mutual TLS + ACLs).

On a 1-node cluster with mutual TLS and ``StandardAuthorizer``, the federation's
ACLs (:func:`broker.acls.acl_bindings`) are applied; then, presenting ES-PN's
certificate, every (topic, operation) of the layout that
:func:`broker.topics.access_matrix` does not grant ES-PN is attempted, plus
joining another agency's consumer group and using the router's transactional id.
``sent`` counts the forbidden attempts, ``hostile_accepted`` those that
succeeded (must be 0). The allowed operations are probed too, as a control: a
broken setup that refuses everything must not pass.

Example (not run here: it needs a TLS cluster)::

    result = await acl_probe(Context(cluster=tls_cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import secrets
import time

from aiokafka import TopicPartition

from broker.acls import acl_bindings, apply_acls
from broker.devtools.chaos.harness import AGENCIES, SENDER
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context
from broker.errors import AccessDeniedError, Error
from broker.topics import Operation, TopicLayout, access_matrix
from broker.transport import (
    KafkaConnection,
    ensure_topics,
    translate_kafka_errors,
)

__all__ = ["acl_probe", "can_join", "can_read", "can_use_transactional_id", "can_write"]


async def can_write(conn: KafkaConnection, topic: str) -> bool:
    """Return whether a record can be written to ``topic``."""
    producer = conn.producer(request_timeout_ms=8000, enable_idempotence=False)
    try:
        with translate_kafka_errors("probe write"):
            await producer.start()
            await asyncio.wait_for(producer.send_and_wait(topic, b"probe", key=b"probe"), 15)
    except AccessDeniedError:
        return False
    finally:
        await producer.stop()
    return True


async def can_read(conn: KafkaConnection, topic: str) -> bool:
    """Return whether the seed record of ``topic`` can actually be fetched."""
    consumer = conn.consumer(group_id=None, request_timeout_ms=8000)
    try:
        with translate_kafka_errors("probe read"):
            await consumer.start()
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 15)
    except AccessDeniedError:
        return False
    finally:
        await consumer.stop()
    return any(batch.values())


async def can_join(conn: KafkaConnection, topic: str, group: str) -> bool:
    """Return whether ``group`` can be joined to consume ``topic``."""
    consumer = conn.consumer(topic, group_id=group, request_timeout_ms=8000)
    try:
        with translate_kafka_errors("probe group"):
            await consumer.start()
            await asyncio.wait_for(consumer.getmany(timeout_ms=1500), 20)
    except AccessDeniedError:
        return False
    finally:
        await consumer.stop()
    return True


async def can_use_transactional_id(conn: KafkaConnection, txn_id: str, topic: str) -> bool:
    """Return whether a transactional producer with ``txn_id`` can commit to ``topic``."""
    producer = conn.producer(transactional_id=txn_id, request_timeout_ms=8000)
    try:
        with translate_kafka_errors("probe transactional id"):
            await asyncio.wait_for(producer.start(), 20)
            async with producer.transaction():
                await producer.send(topic, b"probe", key=b"probe")
    except AccessDeniedError:
        return False
    finally:
        await producer.stop()
    return True


async def acl_probe(ctx: Context, *, agencies: list[str] | None = None) -> ScenarioResult:
    """Attempt, with ES-PN's certificate, everything the access matrix forbids it."""
    agencies = agencies or AGENCIES
    result = ScenarioResult(scenario="acl-probe")
    started = time.monotonic()
    if not ctx.cluster.tls:
        result.error = "the ACL scenario needs a cluster with mutual TLS"
        return result
    layout = TopicLayout(prefix=f"chaos-acl-{secrets.token_hex(3)}")
    admin = ctx.cluster.connection("admin")
    await ensure_topics(admin, layout=layout, agencies=agencies, partitions=1)
    await apply_acls(admin, acl_bindings(layout, agencies))
    topics = sorted({t for a in agencies for t in layout.agency_topics(a)})
    topics += [layout.audit, layout.federation]
    seed = admin.producer()
    await seed.start()
    try:
        for topic in topics:
            # Keyed: the compacted federation topic refuses records without a key.
            await seed.send_and_wait(topic, b"seed", key=b"seed", partition=0)
    finally:
        await seed.stop()
    await asyncio.sleep(1.5)  # ACLs propagate through the metadata log
    allowed = {
        (p.topic, p.operation) for p in access_matrix(layout, agencies) if p.principal == SENDER
    }
    conn = ctx.cluster.connection(SENDER)
    succeeded: list[str] = []
    refused_allowed: list[str] = []
    attempts = 0
    for topic in topics:
        for op, probe in ((Operation.WRITE, can_write), (Operation.READ, can_read)):
            try:
                ok = await probe(conn, topic)
            except Error as exc:
                ok = False
                result.notes.append(f"{op.value} {topic}: {exc.reason}")
            if (topic, op) in allowed:
                if not ok:
                    refused_allowed.append(f"{op.value} {topic}")
                continue
            attempts += 1
            if ok:
                succeeded.append(f"{op.value} {topic}")
    for other in agencies:
        if other == SENDER:
            continue
        attempts += 1
        if await can_join(conn, layout.inbox(other), layout.consumer_group(other)):
            succeeded.append(f"join group {layout.consumer_group(other)}")
    attempts += 1
    router_txn = f"{layout.router_group}.0"
    if await can_use_transactional_id(conn, router_txn, layout.outbox(SENDER)):
        succeeded.append(f"transactional id {router_txn}")
    result.sent = attempts
    result.hostile = attempts
    result.hostile_accepted = len(succeeded)
    result.rejected_ok = attempts - len(succeeded)
    result.reasons = {"forbidden": {"access-denied": attempts - len(succeeded)}}
    if succeeded:
        result.notes.append("forbidden but succeeded: " + "; ".join(succeeded))
    if refused_allowed:
        result.error = "allowed operations were refused: " + "; ".join(refused_allowed)
    result.notes.append(
        f"as {SENDER}: {attempts} forbidden attempts over {len(topics)} topics, groups and the "
        f"router's transactional id; {len(allowed)} allowed operations checked as a control"
    )
    result.seconds = time.monotonic() - started
    return result
