"""Outbox records that expired before the router read them: a loss the router audits.

An outbox's retention (``BROKER_OUTBOX_RETENTION_DAYS``) deletes records whether
or not the router routed them. A router away longer than that would resume at the
earliest record left and the sender's dossiers would vanish without a trace.
Before it routes anything from a newly assigned outbox partition, the router runs
the shared :class:`~broker.expiry.ExpiryWatch` over it: the gap between the
router group's committed offset and the partition's earliest offset is logged,
dead-lettered to the outbox owner's rejected topic (reason ``expired-unread``, no
content) and audited by ``ROUTER`` as a ``REJECT`` with outcome ``lost`` naming the
owner. The dead letter and the move of the group's offset to the earliest one
commit in one Kafka transaction (``send_offsets_to_transaction``, as the routed
batches do), so the loss is reported once; the audit event is journaled before that
commit (a crash in between reports it again: never less than once).

Agencies write their outboxes with an idempotent producer, not in transactions: no
offset holds a commit marker, so every lost offset is a lost record.

Example::

    watch = outbox_watch(producer=producer, layout=layout, audit=audit_log)
    gaps = await report_expired(watch, consumer)  # before the batch is routed
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from broker._internal.retry import retry_transport
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditLog
from broker.expiry import ExpiryWatch
from broker.retention import Gap
from broker.topics import ROUTER, TopicLayout

__all__ = ["outbox_watch", "report_expired"]


def outbox_watch(*, producer: Any, layout: TopicLayout, audit: AuditLog | None) -> ExpiryWatch:
    """Return the watch that reports expired outbox records with ``producer``'s transactions."""

    async def commit(tp: TopicPartition, offset: int) -> None:
        await producer.send_offsets_to_transaction({tp: offset}, layout.router_group)

    def record(event: AuditEvent) -> None:
        if audit is not None:  # a router without an audit log still logs and dead-letters
            audit.record([event])

    return ExpiryWatch(
        actor=ROUTER,
        layout=layout,
        owner_of=layout.agency_of_outbox,
        produce=producer.send,
        audit=record,
        commit=commit,
        stage="ROUTER",
        transactional=False,
        scope=producer.transaction,
    )


async def report_expired(watch: ExpiryWatch, consumer: Any) -> list[Gap]:
    """Report the gaps of newly assigned outbox partitions, retrying while a broker is away.

    Nothing is routed until this returns: routing first would commit past the gap.
    """

    async def check() -> list[Gap]:
        return await watch.check(consumer)

    return await retry_transport(check, what="outbox expiry check", attempts=20, base=0.2, cap=5.0)
