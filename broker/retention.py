"""Retention: how long each topic keeps records, and what happens when records expire unread.

Kafka deletes a topic's oldest segments once they are older than ``retention.ms``
(broker default: 7 days). For this federation that default is wrong everywhere:

============================  =================================================
topic                         retention (``retention.ms``)
============================  =================================================
``<p>.audit``                 never (-1): auditors replay it from offset 0, years later
``<p>.federation``            never (-1), and compacted
``<p>.rejected.<AGENCY>``     never by default (``BROKER_REJECTED_RETENTION_DAYS``)
``<p>.inbox.<AGENCY>``        ``BROKER_INBOX_RETENTION_DAYS`` (default 90 days)
``<p>.outbox.<AGENCY>``       ``BROKER_OUTBOX_RETENTION_DAYS`` (default 90 days)
============================  =================================================

``retention.bytes`` is -1 (no size limit) on every topic. Deployments must also
keep committed offsets at least as long as the inbox retention (broker setting
``offsets.retention.minutes``), or an idle agency's group forgets where it was.

An inbox or outbox whose consumer stayed away longer than the retention has lost
records: the committed offset is below the partition's earliest offset. A
:class:`Gap` describes that range; the consumers turn it into a loud, audited
``expired-unread`` loss (dead letter without content, REJECT audit event, error
log) instead of silently resuming at the earliest record left.

Example::

    >>> from broker.topics import TopicLayout
    >>> r = Retention(inbox_ms=90 * DAY_MS)
    >>> layout = TopicLayout(prefix="fed")
    >>> r.retention_ms(layout, "fed.audit"), r.retention_ms(layout, "fed.inbox.ES-PN") // DAY_MS
    (-1, 90)
    >>> Gap(topic="fed.inbox.ES-PN", partition=0, committed=3, earliest=10).where
    'fed.inbox.ES-PN/0/3-9'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from broker.topics import TopicLayout

__all__ = [
    "DAY_MS",
    "EXPIRED_UNREAD",
    "NEVER",
    "WARN_FRACTION",
    "Gap",
    "PartitionStatus",
    "Retention",
    "find_gaps",
    "group_status",
]

#: ``retention.ms`` meaning "never delete".
NEVER = -1
DAY_MS = 24 * 60 * 60 * 1000
#: Reason code of a loss (dead letter, audit event, log).
EXPIRED_UNREAD = "expired-unread"
#: ``broker status`` warns when the oldest unread record is older than this share of retention.
WARN_FRACTION = 0.5


@dataclass(frozen=True, kw_only=True)
class Retention:
    """Per-topic retention in milliseconds (:data:`NEVER` = keep forever)."""

    inbox_ms: int = 90 * DAY_MS
    outbox_ms: int = 90 * DAY_MS
    rejected_ms: int = NEVER

    def __post_init__(self) -> None:
        for name in ("inbox_ms", "outbox_ms", "rejected_ms"):
            value = getattr(self, name)
            if value != NEVER and value <= 0:
                msg = f"{name} must be positive or {NEVER} (never), not {value}"
                raise ValueError(msg)

    def retention_ms(self, layout: TopicLayout, topic: str) -> int:
        """Return the retention of ``topic``; the audit and federation topics never expire."""
        head = f"{layout.prefix}."
        kind = topic.removeprefix(head).split(".", 1)[0]
        return {"inbox": self.inbox_ms, "outbox": self.outbox_ms, "rejected": self.rejected_ms}.get(
            kind, NEVER
        )

    def topic_configs(self, layout: TopicLayout, topic: str) -> dict[str, str]:
        """Return the retention topic configs to set on ``topic``."""
        return {"retention.ms": str(self.retention_ms(layout, topic)), "retention.bytes": "-1"}


@dataclass(frozen=True, kw_only=True)
class Gap:
    """Records that expired before their consumer read them: ``committed .. earliest - 1``."""

    topic: str
    partition: int
    committed: int
    earliest: int
    #: The group had no committed offset (new, or its offsets expired): at most this many.
    never_committed: bool = False

    @property
    def lost(self) -> int:
        """How many offsets were lost: records, and transaction markers (an upper bound)."""
        return self.earliest - self.committed

    @property
    def where(self) -> str:
        """``topic/partition/first-last`` of the lost range (an audit event's ``ref``)."""
        return f"{self.topic}/{self.partition}/{self.committed}-{self.earliest - 1}"

    def describe(self) -> str:
        """One line for the log and the dead letter's detail (no content: it is gone)."""
        note = "; no offset was ever committed" if self.never_committed else ""
        return (
            f"offsets {self.committed}..{self.earliest - 1} of {self.topic}[{self.partition}] "
            f"(up to {self.lost} record(s){note}) expired (topic retention) before they were read"
        )


async def find_gaps(
    consumer: Any, partitions: set[TopicPartition], *, transactional: bool = True
) -> list[Gap]:
    """Return the partitions whose committed offset lies below their earliest offset.

    A partition without a committed offset counts from 0 (see :attr:`Gap.never_committed`).
    ``transactional``: the partitions are written in transactions (the router writes every
    inbox so), so offsets also hold commit markers and :attr:`Gap.lost` is an upper bound.
    Must run before the first commit on each partition after an assignment: the
    consumer has already reset its position to the earliest record, but the group's
    committed offset still says where it stopped.
    """
    from broker.transport import translate_kafka_errors  # transport imports this module

    if not partitions:
        return []
    with translate_kafka_errors("read committed and earliest offsets"):
        earliest = await consumer.beginning_offsets(sorted(partitions))
        gaps = []
        for tp in sorted(partitions):
            committed = await consumer.committed(tp)
            # No committed offset yet: every record of an inbox is addressed to its agency,
            # so anything already deleted was lost before it was ever read.
            start = 0 if committed is None else committed
            # The offset after the last record of a transaction holds its commit marker: a
            # consumer that read everything commits that offset, and once retention deletes
            # the marker alone, the gap of one offset lost no record.
            marker_only = transactional and committed is not None and earliest[tp] == start + 1
            if start < earliest[tp] and not marker_only:
                gaps.append(
                    Gap(
                        topic=tp.topic,
                        partition=tp.partition,
                        committed=start,
                        earliest=earliest[tp],
                        never_committed=committed is None,
                    )
                )
    return gaps


@dataclass(frozen=True, kw_only=True)
class PartitionStatus:
    """Where one consumer group stands on one partition, against the topic's retention."""

    topic: str
    partition: int
    retention_ms: int
    committed: int | None
    earliest: int
    end: int
    oldest_unread_ms: int | None  # age of the oldest record not yet read, if any

    @property
    def lag(self) -> int:
        """Records (and markers) not yet read."""
        return max(0, self.end - max(self.committed or 0, self.earliest))

    @property
    def expired_unread(self) -> bool:
        """Whether records expired before the group read them (a loss the consumer reports)."""
        return (self.committed or 0) < self.earliest

    @property
    def warning(self) -> bool:
        """Whether the oldest unread record is older than :data:`WARN_FRACTION` of retention."""
        if self.retention_ms == NEVER or self.oldest_unread_ms is None:
            return False
        return self.oldest_unread_ms > WARN_FRACTION * self.retention_ms


async def group_status(
    conn: Any, *, topic: str, group: str, retention_ms: int, now_ms: int
) -> list[PartitionStatus]:
    """Return ``group``'s position on every partition of ``topic`` (reads, never commits)."""
    from broker.transport import translate_kafka_errors  # transport imports this module

    consumer = conn.consumer(group_id=group, enable_auto_commit=False)
    out = []
    with translate_kafka_errors(f"read the status of {topic}"):
        parts = [TopicPartition(topic, p) for p in await _partitions(conn, topic)]
        await consumer.start()
        try:
            consumer.assign(parts)  # no group join: the running consumer is not disturbed
            earliest = await consumer.beginning_offsets(parts)
            end = await consumer.end_offsets(parts)
            for tp in parts:
                committed = await consumer.committed(tp)
                start = max(committed or 0, earliest[tp])
                age = None
                if start < end[tp]:
                    consumer.seek(tp, start)
                    batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
                    records = batch.get(tp, [])
                    age = now_ms - records[0].timestamp if records else None
                out.append(
                    PartitionStatus(
                        topic=topic,
                        partition=tp.partition,
                        retention_ms=retention_ms,
                        committed=committed,
                        earliest=earliest[tp],
                        end=end[tp],
                        oldest_unread_ms=age,
                    )
                )
        finally:
            await consumer.stop()
    return out


async def _partitions(conn: Any, topic: str) -> list[int]:
    async with conn.admin() as admin:
        described = await admin.describe_topics([topic])
    return sorted(p["partition"] for d in described for p in d["partitions"])
