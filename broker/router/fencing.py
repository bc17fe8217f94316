"""One transactional producer per input partition: how router instances fence each other.

Several ``broker router run`` processes share the outboxes as one consumer group
(``<prefix>.router``); Kafka spreads the outbox partitions over them and moves a
partition when an instance dies or joins. Exactly-once across such a move needs
*fencing*: an instance that lost a partition but does not know it yet (a zombie:
paused, partitioned away, or SIGKILLed with a transaction open) must not be able
to commit output and offsets for it once its successor has started.

Kafka offers two designs. Since 2.5 (KIP-447) the producer passes the consumer's
group metadata (generation, member id) with ``send_offsets_to_transaction`` and
the group coordinator refuses a zombie's offsets; then one ``transactional.id``
per instance is enough. **aiokafka (0.14) does not**: its
``send_offsets_to_transaction(offsets, group_id)`` sends ``TxnOffsetCommit`` v0
(transactional id, group id, producer id and epoch: no generation, no member
id), and its ``OffsetFetch`` cannot ask for stable offsets. With one id per
instance a zombie's transaction would commit offsets the group already handed to
another instance, and that instance would route the same records again:
duplicates. So the router uses the original (KIP-98) design, correct without
KIP-447: **one transactional id per input partition**,
``<prefix>.router.<topic>.<partition>`` (the router's ACL is a prefix ACL on
``<prefix>.router``). Whoever owns a partition starts that id's producer
(``InitProducerId``), which bumps its epoch: the previous owner's open
transaction is aborted at once (readers of the inboxes are not held back until
it times out) and any later write or commit of the old producer is refused
(``ProducerFenced``). Only *after* that does the new owner read the committed
offset and seek to it (:meth:`PartitionProducers.claim`): a commit the old owner
completed just before the fence is then visible, so nothing is routed twice;
records fetched before the claim are dropped and fetched again.

A producer fenced by a successor gives its partition up: its records are skipped
until the group reassigns the partition here (then it is claimed again) or, if
the group still says it is ours, until :data:`RECLAIM_AFTER` seconds passed
(every claim re-reads the committed offset, so a claim never duplicates).

The cost is one producer (one connection and producer id) per outbox partition
an instance owns, and one transaction per partition per fetched batch; the
partitions' transactions run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from broker.errors import TransportError
from broker.transport import KafkaConnection, producer_fenced, translate_kafka_errors

__all__ = ["RECLAIM_AFTER", "PartitionProducers", "fatal_producer", "fenced"]

log = logging.getLogger(__name__)

#: Seconds a partition whose producer was fenced is left alone (unless reassigned here).
RECLAIM_AFTER = 15.0


def fenced(exc: BaseException) -> bool:
    """Return whether ``exc`` says our producer was fenced by a successor (or is dead of it)."""
    cause = exc.__cause__ if isinstance(exc, TransportError) else exc
    return producer_fenced(exc) or (isinstance(cause, AssertionError) and _FATAL in str(cause))


_FATAL = "FATAL_ERROR"


@contextlib.contextmanager
def fatal_producer() -> Iterator[None]:
    """Turn aiokafka's assertion on a producer left fatal (fenced in the background) into
    a non-retriable TransportError that :func:`fenced` recognises."""
    try:
        yield
    except AssertionError as exc:
        if _FATAL not in str(exc):
            raise
        err = TransportError("transactional producer unusable", detail=str(exc))
        err.retriable = False
        raise err from exc


class PartitionProducers(ConsumerRebalanceListener):  # type: ignore[misc]
    """The transactional producers of the outbox partitions this instance owns.

    Also the consumer's rebalance listener: a revoked partition's producer is closed
    once the batch in flight is done (:attr:`lock`), an assigned one is claimed at once.
    """

    def __init__(self, *, conn: KafkaConnection, prefix: str, linger_ms: int = 2) -> None:
        self._conn = conn
        self._prefix = prefix
        self._linger_ms = linger_ms
        self._producers: dict[TopicPartition, Any] = {}
        self._fenced_at: dict[TopicPartition, float] = {}
        self._claims: dict[TopicPartition, int] = {}
        #: Held while a batch is routed: a rebalance waits for it.
        self.lock = asyncio.Lock()
        self._joined = False
        #: The consumer whose positions a claim resets (set before it subscribes).
        self.consumer: Any = None

    def transactional_id(self, tp: TopicPartition) -> str:
        """Return the transactional id of input partition ``tp`` (the same in every instance)."""
        return f"{self._prefix}.{tp.topic}.{tp.partition}"

    def get(self, tp: TopicPartition) -> Any | None:
        """Return the producer of ``tp`` if this instance holds it."""
        return self._producers.get(tp)

    def held(self) -> set[TopicPartition]:
        """Return the partitions whose producer this instance holds."""
        return set(self._producers)

    def claims(self) -> dict[TopicPartition, int]:
        """Return how many times each partition was claimed (snapshot before a fetch).

        Records fetched before a claim's seek must not be routed: the router routes a
        partition's records only if its count is unchanged since before the fetch.
        """
        return dict(self._claims)

    def settled(self, consumer: Any) -> bool:
        """Whether the group assigned partitions here once and every one is claimed."""
        return self._joined and not (consumer.assignment() - set(self._producers))

    def may_claim(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` may be claimed now (not within :data:`RECLAIM_AFTER` of a fence)."""
        at = self._fenced_at.get(tp)
        return at is None or time.monotonic() - at >= RECLAIM_AFTER

    async def claim(self, tps: set[TopicPartition]) -> None:
        """Fence the previous owners of ``tps``, then seek each to its committed offset."""
        new = [tp for tp in tps if tp not in self._producers]
        await asyncio.gather(*(self._claim_one(tp) for tp in new))

    async def _claim_one(self, tp: TopicPartition) -> None:
        producer = self._conn.producer(
            transactional_id=self.transactional_id(tp), linger_ms=self._linger_ms
        )
        try:
            with translate_kafka_errors(f"claim {tp.topic}[{tp.partition}]"):
                await producer.start()  # InitProducerId: the previous owner is fenced here
            await self.reposition(tp)
        except BaseException:
            await producer.stop()
            raise
        self._producers[tp] = producer
        self._claims[tp] = self._claims.get(tp, 0) + 1
        self._fenced_at.pop(tp, None)

    async def reposition(self, tp: TopicPartition) -> None:
        """Seek ``tp`` to its committed offset (valid once this instance holds its producer)."""
        with translate_kafka_errors(f"seek {tp.topic}[{tp.partition}] to committed"):
            committed = await self.consumer.committed(tp)
            if committed is None or committed < 0:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)

    async def release(self, tps: set[TopicPartition], *, was_fenced: bool = False) -> None:
        """Close the producers of ``tps`` (given up, or ``was_fenced`` by a successor)."""
        gone = [self._producers.pop(tp) for tp in tps if tp in self._producers]
        if was_fenced:
            now = time.monotonic()
            self._fenced_at.update(dict.fromkeys(tps, now))
        for producer in gone:
            try:
                await producer.stop()
            except Exception:  # a fenced producer may fail to stop cleanly
                log.debug("stopping a released producer failed", exc_info=True)

    async def close(self) -> None:
        """Close every producer."""
        await self.release(set(self._producers))

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            await self.release(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.lock:
            self._joined = True
            self._fenced_at.clear()  # the group says these are ours now
            try:
                await self.claim(set(assigned))
            except TransportError as exc:
                # Not fatal: a partition without a producer is claimed before it is routed.
                log.warning("router: claiming partitions failed: %s", exc.diagnostics())
