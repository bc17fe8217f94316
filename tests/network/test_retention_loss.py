"""Records that expire unread are a loud, audited loss, never a silent skip (issue 13).

Kafka's retention deletes whole segments and moves the partition's log start offset;
``DeleteRecords`` moves it the same way, at once, so the test need not wait for the
broker's retention check (the ``retention-expiry`` chaos scenario uses real retention).
"""

from __future__ import annotations

import time

from broker.audit.events import AuditEvent, AuditKind
from broker.cli.status import collect
from broker.deadletter import DeadLetter
from broker.retention import DAY_MS, EXPIRED_UNREAD
from broker.synthetic import example_dossier
from broker.topics import ROUTER
from tests.kafka_helpers import expire_everything, read_all
from tests.network.conftest import ROUNDS, Network


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


# -- the router on the outboxes --------------------------------------------------------


def router_losses(network: Network) -> list[AuditEvent]:
    """The ``expired-unread`` losses in the router's audit journal."""
    events = [AuditEvent.from_bytes(v) for v in network.router_journal()]
    return [e for e in events if e.kind is AuditKind.REJECT and e.reason == EXPIRED_UNREAD]


def offsets_in(ref: str) -> int:
    """How many offsets ``topic/partition/first-last`` names."""
    first, last = ref.rsplit("/", 1)[1].split("-")
    return int(last) - int(first) + 1


async def test_outbox_records_expired_before_the_router_read_them_are_an_audited_loss(
    network: Network,
) -> None:
    outbox = network.layout.outbox("ES-PN")
    async with network.node("ES-PN") as sender:
        before = await sender.publish_dossier(example_dossier(1), to=["DE-BKA"])
    assert (await network.router(audited=True).run(until_idle=4.0)).routed == 1

    # The router is down; three dossiers wait in ES-PN's outbox and expire there.
    async with network.node("ES-PN") as sender:
        for i in range(3):
            await sender.publish_dossier(example_dossier(2 + i), to=["DE-BKA"])
    await expire_everything(network.conn, outbox)
    async with network.node("ES-PN") as sender:
        after = await sender.publish_dossier(example_dossier(9), to=["DE-BKA"])
    stats = await network.router(audited=True).run(until_idle=4.0)
    assert stats.routed == 1  # routing went on after the loss

    # Before the fix the router resumed at the earliest record left: no trace of the three.
    # Outboxes are written without transactions (no commit markers): exactly three offsets.
    assert stats.lost == 3
    lost = router_losses(network)
    assert lost, "the router audited no loss"
    assert all(e.actor == ROUTER and e.outcome == "lost" and e.parties == ["ES-PN"] for e in lost)
    assert all((e.ref or "").startswith(f"{outbox}/") for e in lost)
    assert sum(offsets_in(e.ref or "") for e in lost) == 3
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(network.conn, network.layout.rejected("ES-PN"), expect=len(lost))
    ]
    assert sorted(x.reason for x in letters) == [EXPIRED_UNREAD] * len(lost)
    assert all(x.original == b"" and x.source_topic == outbox for x in letters)
    assert all(
        x.rejected_by == ROUTER and "expired (topic retention)" in (x.detail or "") for x in letters
    )

    got: list[str] = []

    async def handler(delivery: object) -> None:
        got.append(delivery.envelope_id)  # type: ignore[attr-defined]

    async with network.node("DE-BKA") as de:
        for _ in range(ROUNDS):
            await de.consume(handler=handler, until_idle=4.0, send_receipts=False)
            if len(got) >= 2:
                break
    # The inbox has two partitions: the two arrive in either order, the three lost never.
    assert sorted(got) == sorted([before.envelope_id, after.envelope_id])

    # The loss is reported once: the group's offset moved past it in the same transaction.
    assert (await network.router(audited=True).run(until_idle=4.0)).lost == 0
    assert len(router_losses(network)) == len(lost)


async def test_router_that_never_read_an_outbox_still_reports_the_loss(
    network: Network,
) -> None:
    async with network.node("ES-PN") as sender:
        for i in range(2):
            await sender.publish_dossier(example_dossier(40 + i), to=["DE-BKA"])
    await expire_everything(network.conn, network.layout.outbox("ES-PN"))
    stats = await network.router(audited=True).run(until_idle=4.0)
    assert stats.lost == 2 and stats.routed == 0
    assert sum(offsets_in(e.ref or "") for e in router_losses(network)) == 2


async def test_status_shows_the_router_group_oldest_unread_outbox_record_against_retention(
    network: Network,
) -> None:
    outbox = network.layout.outbox("ES-PN")
    sixty_days_ago = int(time.time() * 1000) - 60 * DAY_MS  # outbox retention: 90 days
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(outbox, b"unrouted", partition=0, timestamp_ms=sixty_days_ago)
    finally:
        await producer.stop()
    rows = await collect(network.settings, agency=None, router=True)
    row = next(r for r in rows if r.topic == outbox and r.partition == 0)
    assert row.retention_ms == 90 * DAY_MS and row.lag == 1
    assert row.oldest_unread_ms is not None and row.oldest_unread_ms >= 60 * DAY_MS
    assert row.warning and not row.expired_unread

    await expire_everything(network.conn, outbox)
    rows = await collect(network.settings, agency=None, router=True)
    row = next(r for r in rows if r.topic == outbox and r.partition == 0)
    assert row.expired_unread and row.lag == 0
