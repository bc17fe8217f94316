"""Records that expired before the inbox read them: a loud, audited loss, never a silent skip.

When an agency stays away longer than its inbox's retention, Kafka deletes
records the agency never read; on return the consumer's committed offset lies
below the partition's earliest offset and aiokafka resumes at the earliest one
(``auto_offset_reset``) without a word. :class:`ExpiryWatch` checks every newly
assigned partition before its first commit and, for each :class:`~broker.retention.Gap`,

1. logs an error naming the lost offsets,
2. writes a dead letter to ``<prefix>.rejected.<AGENCY>`` (reason ``expired-unread``,
   no content — it is gone — and the range in its detail) and waits for its ack,
3. journals a ``REJECT`` audit event with outcome ``lost`` and the range as ``ref``,
4. commits the earliest offset, so the same loss is reported once,

then consumption goes on.

Example::

    watch = ExpiryWatch(agency="ES-PN", rejected_topic=..., produce=..., audit=..., commit=...)
    gaps = await watch.check(consumer)  # each call: only partitions not yet checked
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition

from broker.audit.events import AuditEvent
from broker.deadletter import DeadLetter
from broker.errors import RecordsExpiredError
from broker.retention import Gap, find_gaps
from broker.transport import translate_kafka_errors

__all__ = ["ExpiryWatch"]

log = logging.getLogger(__name__)


class ExpiryWatch:
    """Turn expired-unread gaps of a consumer's partitions into audited losses."""

    def __init__(
        self,
        *,
        agency: str,
        rejected_topic: str,
        produce: Callable[..., Awaitable[Any]],
        audit: Callable[[AuditEvent], None],
        commit: Callable[[TopicPartition, int], Awaitable[None]],
        stage: str = "CONSUMER",
    ) -> None:
        self._agency = agency
        self._rejected = rejected_topic
        self._produce = produce
        self._audit = audit
        self._commit = commit
        self._stage = stage
        self._checked: set[TopicPartition] = set()

    async def check(self, consumer: Any) -> list[Gap]:
        """Report the gaps of partitions assigned since the last call; return them."""
        assigned: set[TopicPartition] = set(consumer.assignment())
        self._checked &= assigned  # a partition revoked and assigned again is checked again
        fresh = assigned - self._checked
        gaps = await find_gaps(consumer, fresh)
        for gap in gaps:
            await self._report(gap)
        self._checked |= fresh
        return gaps

    async def _report(self, gap: Gap) -> None:
        error = RecordsExpiredError(f"{gap.lost} record(s) expired unread", detail=gap.describe())
        log.error("%s LOST %s: %s", self._agency, gap.where, gap.describe())
        letter = DeadLetter.for_record(
            original=b"",
            key=None,
            topic=gap.topic,
            partition=gap.partition,
            offset=gap.committed,
            stage=self._stage,
            rejected_by=self._agency,
            reason=error.reason,
            detail=error.diagnostics(),
        )
        future = await self._produce(self._rejected, value=letter.to_bytes(), key=None)
        with translate_kafka_errors("dead-letter"):
            await future
        self._audit(AuditEvent.lost(actor=self._agency, reason=error.reason, where=gap.where))
        await self._commit(TopicPartition(gap.topic, gap.partition), gap.earliest)
