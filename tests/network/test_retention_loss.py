"""Records that expire unread are a loud, audited loss, never a silent skip (issue 13).

Kafka's retention deletes whole segments and moves the partition's log start offset;
``DeleteRecords`` moves it the same way, at once, so the test need not wait for the
broker's retention check (the ``retention-expiry`` chaos scenario uses real retention).
"""

from __future__ import annotations

import time

from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from broker.audit.events import AuditEvent, AuditKind
from broker.cli.status import collect
from broker.deadletter import DeadLetter
from broker.retention import DAY_MS, EXPIRED_UNREAD
from broker.synthetic import example_dossier
from broker.transport import KafkaConnection
from tests.kafka_helpers import read_all
from tests.network.conftest import Network


async def expire_everything(conn: KafkaConnection, topic: str) -> dict[TopicPartition, int]:
    """Advance every partition's log start offset to its end, as retention would."""
    async with conn.admin() as admin:
        (described,) = await admin.describe_topics([topic])
        parts = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        consumer = conn.consumer(group_id=None)
        await consumer.start()
        try:
            consumer.assign(parts)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        finally:
            await consumer.stop()
        await admin.delete_records({tp: RecordsToDelete(end) for tp, end in ends.items()})
    return ends


async def test_agency_offline_past_retention_gets_an_audited_loss_not_a_silent_skip(
    network: Network,
) -> None:
    inbox = network.layout.inbox("DE-BKA")
    async with network.node("ES-PN") as sender:
        await sender.publish_dossier(example_dossier(1), to=["DE-BKA"])
    await network.router().run(until_idle=4.0)
    async with network.node("DE-BKA") as de:
        assert (await de.consume(until_idle=4.0, send_receipts=False)).delivered == 1

    # DE-BKA goes offline; three dossiers arrive and expire before it comes back.
    async with network.node("ES-PN") as sender:
        for i in range(3):
            await sender.publish_dossier(example_dossier(2 + i), to=["DE-BKA"])
    await network.router().run(until_idle=4.0)
    await expire_everything(network.conn, inbox)
    async with network.node("ES-PN") as sender:
        after = await sender.publish_dossier(example_dossier(9), to=["DE-BKA"])
    await network.router().run(until_idle=4.0)

    got: list[str] = []

    async def handler(delivery: object) -> None:
        got.append(delivery.envelope_id)  # type: ignore[attr-defined]

    async with network.node("DE-BKA") as de:
        stats = await de.consume(handler=handler, until_idle=4.0, send_receipts=False)
        assert de.audit_log is not None
        events = [AuditEvent.from_bytes(v) for v in de.audit_log.journal.events()]
    assert got == [after.envelope_id]  # consumption went on after the loss

    # Before the fix: no reason, no dead letter, no event — the three were skipped silently.
    lost = [e for e in events if e.kind is AuditKind.REJECT and e.reason == EXPIRED_UNREAD]
    assert lost, "no audit event for the expired records"
    assert all(e.outcome == "lost" and (e.ref or "").startswith(f"{inbox}/") for e in lost)
    # Each dossier takes a record and the router's commit marker: up to 6 offsets, at least 3.
    assert 3 <= stats.reasons[EXPIRED_UNREAD] <= 6
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(network.conn, network.layout.rejected("DE-BKA"), expect=len(lost))
    ]
    assert sorted(x.reason for x in letters) == [EXPIRED_UNREAD] * len(lost)
    assert all(x.original == b"" and x.source_topic == inbox for x in letters)
    assert all(x.detail and "expired (topic retention)" in x.detail for x in letters)

    # The loss is reported once: the next run finds nothing more.
    async with network.node("DE-BKA") as de:
        again = await de.consume(until_idle=4.0, send_receipts=False)
    assert EXPIRED_UNREAD not in again.reasons


async def test_status_warns_before_an_unread_record_expires_and_flags_the_loss_after(
    network: Network,
) -> None:
    inbox = network.layout.inbox("DE-BKA")
    sixty_days_ago = int(time.time() * 1000) - 60 * DAY_MS  # retention: 90 days
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(inbox, b"unread", partition=0, timestamp_ms=sixty_days_ago)
    finally:
        await producer.stop()
    rows = {r.partition: r for r in await collect(network.settings, agency="DE-BKA", router=False)}
    assert rows[0].retention_ms == 90 * DAY_MS and rows[0].lag == 1
    assert rows[0].oldest_unread_ms is not None and rows[0].oldest_unread_ms >= 60 * DAY_MS
    assert rows[0].warning and not rows[0].expired_unread
    assert not rows[1].warning and rows[1].lag == 0

    await expire_everything(network.conn, inbox)
    rows = {r.partition: r for r in await collect(network.settings, agency="DE-BKA", router=False)}
    assert rows[0].expired_unread and rows[0].lag == 0 and not rows[0].warning


async def test_agency_that_never_read_its_inbox_still_gets_the_loss_reported(
    network: Network,
) -> None:
    async with network.node("ES-PN") as sender:
        for i in range(2):
            await sender.publish_dossier(example_dossier(30 + i), to=["DE-BKA"])
    await network.router().run(until_idle=4.0)
    await expire_everything(network.conn, network.layout.inbox("DE-BKA"))
    async with network.node("DE-BKA") as de:
        stats = await de.consume(until_idle=4.0, send_receipts=False)
    assert 2 <= stats.reasons[EXPIRED_UNREAD] <= 4
