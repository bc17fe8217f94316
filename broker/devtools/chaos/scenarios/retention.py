"""A consumer stays away longer than its topic's retention: the loss is detected and audited.

On the shared cluster (whose brokers check retention every few seconds, see
:mod:`broker.local.properties`), two phases, each with a retention of two seconds
while the consumer is away and Kafka's own retention check deleting the records:

1. *inbox*: ES-PN sends dossiers to DE-BKA while DE-BKA is not consuming; then
   DE-BKA consumes. Its inbox consumer must report an ``expired-unread`` loss
   (dead letter and ``REJECT`` audit event in DE-BKA's stream).
2. *outbox*: ES-PN publishes dossiers while the router is down; then the router
   runs. It must report the loss of exactly those records (outboxes hold no commit
   markers): dead letters to ES-PN's rejected topic and ``REJECT`` events by ``ROUTER``.

After each, the retention is restored and a control dossier must arrive.
``hostile`` counts the dossiers that expired unread and ``rejected_ok`` those
reported as a loss; a silent skip counts them as ``lost``.

Example (not run here: it needs a cluster)::

    result = await retention_expiry(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import TopicPartition

from broker import home
from broker.agency import AgencyNode
from broker.audit.events import ROUTER_STREAM, AuditEvent, AuditKind
from broker.audit.journal import AuditJournal
from broker.audit.writer import load_audit_log
from broker.devtools.chaos.harness import AGENCIES, RECIPIENT, SENDER, ChaosNetwork
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context
from broker.retention import EXPIRED_UNREAD, Retention
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.transport import KafkaConnection, ensure_topics, translate_kafka_errors
from broker.trust import load_trust

__all__ = ["retention_expiry"]

#: A topic's retention while its consumer is away.
SHORT_MS = 2000


@dataclass
class _Phase:
    """What one phase found."""

    reported: int = 0  # offsets reported lost
    losses: int = 0  # REJECT events with reason expired-unread
    control: bool = False  # the dossier sent after the loss arrived
    error: str | None = None


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


async def _expire(ctx: Context, net: ChaosNetwork, topic: str, deadline: float) -> str | None:
    """Wait until Kafka deleted every record of ``topic``; restore the retention."""
    ctx.say(f"   dossiers in {topic}, retention {SHORT_MS} ms; waiting for Kafka")
    while True:
        first, end = await _earliest_total(net.conn, topic, 3)
        if first >= end > 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    await ensure_topics(
        net.conn, layout=net.layout, agencies=AGENCIES, retention=net.settings.retention
    )
    if end == 0 or first < end:
        return f"Kafka did not delete the records of {topic} within {ctx.sizes.stall_s:.0f} s"
    return None


async def _publish(net: ChaosNetwork, first: int, count: int) -> list[str]:
    async with AgencyNode.load(net.settings, agency=SENDER, conn=net.conn) as sender:
        return [
            (await sender.publish_dossier(example_dossier(first + i), to=[RECIPIENT])).envelope_id
            for i in range(count)
        ]


async def _receive(net: ChaosNetwork) -> tuple[list[str], int, int]:
    """Consume the recipient's inbox; return the ids, the offsets and the events of its losses."""
    got: list[str] = []

    async def handler(delivery: object) -> None:
        got.append(str(getattr(delivery, "envelope_id", "")))

    async with AgencyNode.load(net.settings, agency=RECIPIENT, conn=net.conn) as node:
        stats = await node.consume(handler=handler, until_idle=4.0, send_receipts=False)
        events = (
            [AuditEvent.from_bytes(v) for v in node.audit_log.journal.events()]
            if node.audit_log is not None
            else []
        )
    losses = sum(e.kind is AuditKind.REJECT and e.reason == EXPIRED_UNREAD for e in events)
    return got, stats.reasons.get(EXPIRED_UNREAD, 0), losses


def _router(net: ChaosNetwork) -> Router:
    """The router with its audit stream (each run closes its audit log: one per run)."""
    return Router(
        conn=net.conn,
        layout=net.layout,
        check=EnvelopeCheck(trust=load_trust(net.settings)),
        transactional_id=f"{net.layout.router_group}.chaos",
        audit=load_audit_log(net.settings, stream=ROUTER_STREAM, conn=net.conn),
    )


async def _inbox_phase(ctx: Context, net: ChaosNetwork, count: int, deadline: float) -> _Phase:
    phase = _Phase()
    await ensure_topics(
        net.conn, layout=net.layout, agencies=AGENCIES, retention=Retention(inbox_ms=SHORT_MS)
    )
    await _publish(net, 100, count)
    routed = 0
    while routed < count and time.monotonic() < deadline:
        routed += (await _router(net).run(until_idle=3.0)).routed
    phase.error = await _expire(ctx, net, net.layout.inbox(RECIPIENT), deadline)
    if phase.error:
        return phase
    (control,) = await _publish(net, 99, 1)
    while not (await _router(net).run(until_idle=3.0)).routed and time.monotonic() < deadline:
        pass
    got, phase.reported, phase.losses = await _receive(net)
    phase.control = control in got
    return phase


async def _outbox_phase(ctx: Context, net: ChaosNetwork, count: int, deadline: float) -> _Phase:
    phase = _Phase()
    await ensure_topics(
        net.conn, layout=net.layout, agencies=AGENCIES, retention=Retention(outbox_ms=SHORT_MS)
    )
    await _publish(net, 200, count)  # the router is down
    phase.error = await _expire(ctx, net, net.layout.outbox(SENDER), deadline)
    if phase.error:
        return phase
    (control,) = await _publish(net, 299, 1)
    while True:
        stats = await _router(net).run(until_idle=3.0)
        phase.reported += stats.lost
        if stats.routed or time.monotonic() > deadline:
            break
    journal = AuditJournal.open(
        home.audit_journal(net.settings, ROUTER_STREAM), stream=ROUTER_STREAM
    )
    try:
        events = [AuditEvent.from_bytes(v) for v in journal.events()]
    finally:
        journal.close()
    phase.losses = sum(e.kind is AuditKind.REJECT and e.reason == EXPIRED_UNREAD for e in events)
    got, _, _ = await _receive(net)
    phase.control = control in got
    return phase


async def retention_expiry(ctx: Context) -> ScenarioResult:
    """Let dossiers expire in an inbox, then an outbox, while unread; check both are reported."""
    result = ScenarioResult(scenario="retention-expiry")
    started = time.monotonic()
    net = await ctx.network("retention")
    count = ctx.sizes.expiry_dossiers
    try:
        deadline = time.monotonic() + ctx.sizes.stall_s
        inbox = await _inbox_phase(ctx, net, count, deadline)
        outbox = _Phase(error="not run") if inbox.error else None
        if outbox is None:
            outbox = await _outbox_phase(ctx, net, count, time.monotonic() + ctx.sizes.stall_s)
        result.error = inbox.error or outbox.error
        if result.error:
            return result
        reader = net.dead_letter_reader()
        try:
            letters = [x for x in await reader.drain() if x.reason == EXPIRED_UNREAD]
        finally:
            await reader.close()
        # Inbox offsets also hold the router's commit markers (an upper bound); outbox
        # offsets are records only, so the router must report exactly the expired ones.
        found = [
            inbox.reported >= count and inbox.losses > 0,
            outbox.reported == count and outbox.losses > 0,
        ]
        controls = int(inbox.control) + int(outbox.control)
        result.sent = 2 * count + 2
        result.delivered = controls
        result.hostile = 2 * count
        result.rejected_ok = count * sum(found)
        result.not_rejected = count * (2 - sum(found))
        result.lost = result.not_rejected + (2 - controls)
        result.dead_letters = len(letters)
        result.audited_rejections = inbox.losses + outbox.losses
        result.reasons = {
            "inbox": {EXPIRED_UNREAD: inbox.reported},
            "outbox": {EXPIRED_UNREAD: outbox.reported},
        }
        result.notes.append(
            f"inbox: {count} dossier(s) expired unread; the consumer reported {inbox.reported} "
            f"offset(s) lost in {inbox.losses} audit event(s)"
        )
        result.notes.append(
            f"outbox: {count} dossier(s) expired unrouted; the router reported {outbox.reported} "
            f"offset(s) lost in {outbox.losses} audit event(s)"
        )
        result.notes.append(f"{len(letters)} expired-unread dead letter(s) in all")
    finally:
        await net.close()
        result.seconds = time.monotonic() - started
    return result
