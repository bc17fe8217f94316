"""A recipient stays away longer than its inbox's retention: the loss is detected and audited.

On the shared cluster (whose brokers check retention every few seconds, see
:mod:`broker.local.properties`), ES-PN sends dossiers to DE-BKA while DE-BKA's inbox
has a retention of two seconds and DE-BKA is not consuming. Once Kafka's own
retention check deleted them, the retention is restored, one more dossier is sent,
and DE-BKA consumes. ``hostile`` counts the dossiers that expired unread and
``rejected_ok`` those its consumer reported as an ``expired-unread`` loss (dead
letter and ``REJECT`` audit event); a silent skip counts them as ``lost``.

Example (not run here: it needs a cluster)::

    result = await retention_expiry(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition

from broker.agency import AgencyNode
from broker.audit.events import AuditEvent, AuditKind
from broker.devtools.chaos.harness import AGENCIES, RECIPIENT, SENDER
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context
from broker.retention import EXPIRED_UNREAD, Retention
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.transport import KafkaConnection, ensure_topics, translate_kafka_errors
from broker.trust import load_trust

__all__ = ["retention_expiry"]

#: The inbox's retention while the recipient is away.
SHORT_MS = 2000


async def _earliest_total(conn: KafkaConnection, topic: str, partitions: int) -> tuple[int, int]:
    """Return the sums of the earliest and end offsets over ``topic``'s partitions."""
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer = conn.consumer(group_id=None)
    with translate_kafka_errors("read offsets"):
        await consumer.start()
        try:
            consumer.assign(parts)
            first = await consumer.beginning_offsets(parts)
            end = await consumer.end_offsets(parts)
        finally:
            await consumer.stop()
    return sum(first.values()), sum(end.values())


async def retention_expiry(ctx: Context) -> ScenarioResult:
    """Let dossiers expire in an absent recipient's inbox; check the loss is reported."""
    result = ScenarioResult(scenario="retention-expiry")
    started = time.monotonic()
    net = await ctx.network("retention")
    conn, layout, settings = net.conn, net.layout, net.settings
    inbox = layout.inbox(RECIPIENT)
    count = ctx.sizes.expiry_dossiers
    try:
        router = Router(
            conn=conn,
            layout=layout,
            check=EnvelopeCheck(trust=load_trust(settings)),
            transactional_id=f"{layout.router_group}.chaos",
        )
        await ensure_topics(
            conn, layout=layout, agencies=AGENCIES, retention=Retention(inbox_ms=SHORT_MS)
        )
        async with AgencyNode.load(settings, agency=SENDER, conn=conn) as sender:
            for i in range(count):
                await sender.publish_dossier(example_dossier(100 + i), to=[RECIPIENT])
        deadline = time.monotonic() + ctx.sizes.stall_s
        routed = 0
        while routed < count and time.monotonic() < deadline:
            routed += (await router.run(until_idle=3.0)).routed
        ctx.say(f"   {count} dossier(s) in {inbox}, retention {SHORT_MS} ms; waiting for Kafka")
        while True:
            first, end = await _earliest_total(conn, inbox, 3)
            if first >= end > 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        if end == 0 or first < end:
            result.error = f"Kafka did not delete the records within {ctx.sizes.stall_s:.0f} s"
            return result
        await ensure_topics(conn, layout=layout, agencies=AGENCIES, retention=settings.retention)
        async with AgencyNode.load(settings, agency=SENDER, conn=conn) as sender:
            control = await sender.publish_dossier(example_dossier(99), to=[RECIPIENT])
        while not (await router.run(until_idle=3.0)).routed and time.monotonic() < deadline:
            pass

        got: list[str] = []

        async def handler(delivery: object) -> None:
            got.append(str(getattr(delivery, "envelope_id", "")))

        async with AgencyNode.load(settings, agency=RECIPIENT, conn=conn) as node:
            stats = await node.consume(handler=handler, until_idle=4.0, send_receipts=False)
            events = (
                [AuditEvent.from_bytes(v) for v in node.audit_log.journal.events()]
                if node.audit_log is not None
                else []
            )
        reported = stats.reasons.get(EXPIRED_UNREAD, 0)
        losses = [e for e in events if e.kind is AuditKind.REJECT and e.reason == EXPIRED_UNREAD]
        reader = net.dead_letter_reader()
        try:
            letters = [x for x in await reader.drain() if x.reason == EXPIRED_UNREAD]
        finally:
            await reader.close()
        result.sent = count + 1
        result.delivered = got.count(control.envelope_id)
        result.hostile = count
        detected = reported >= count and bool(losses)
        result.rejected_ok = count if detected else 0
        result.not_rejected = 0 if detected else count
        result.lost = (0 if detected else count) + (1 - min(1, result.delivered))
        result.dead_letters = len(letters)
        result.audited_rejections = len(losses)
        result.reasons = {"expired": {EXPIRED_UNREAD: reported}}
        result.notes.append(
            f"{count} dossier(s) expired unread; reported {reported} offset(s) lost in "
            f"{len(losses)} audit event(s) and {len(letters)} dead letter(s)"
        )
    finally:
        await net.close()
        result.seconds = time.monotonic() - started
    return result
