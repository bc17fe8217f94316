"""Hash lists on Kafka: an owner publishes signed updates; subscribers follow every list.

Each list is a compacted topic ``<prefix>.hashlist.<OWNER>.<name>`` with one
partition; a record's key is the entry id and its value the signed update
(:mod:`broker.hashlist.update`). Compaction keeps each entry's latest update, so
a topic replayed from the beginning *is* the list: a new subscriber (the hub, or
an agency matching locally) needs no other distribution, and a restarted one
resumes from the offsets stored with its :class:`~broker.hashlist.state.ListState`.

:class:`ListFollower` tails every list topic (it finds new lists as they are
created), verifies each record and applies it; a record that fails verification
is dead-lettered to the subscriber's own rejected topic with the reason, and
skipped.

Example::

    $ broker hashlist import hashes.csv --list hotline --as ES-PN
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import TopicPartition

from broker.deadletter import DeadLetter
from broker.errors import Error, TransportError
from broker.hashlist.state import Applied, ListState
from broker.hashlist.update import ListUpdate, open_update, sign_update
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_compacted_topic, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["ListFollower", "ensure_list_topic", "publish_updates"]

log = logging.getLogger(__name__)


async def ensure_list_topic(conn: KafkaConnection, topic: str) -> bool:
    """Create a list's compacted topic if it does not exist; return whether it was created."""
    return await ensure_compacted_topic(conn, topic)


async def publish_updates(
    conn: KafkaConnection,
    *,
    layout: TopicLayout,
    identity: AgencyIdentity,
    updates: Sequence[ListUpdate],
) -> int:
    """Sign and publish ``updates`` (each to its list's topic, created if needed)."""
    topics = sorted({layout.hashlist(u.owner, u.list) for u in updates})
    for topic in topics:
        await ensure_list_topic(conn, topic)
    producer = conn.producer()
    with translate_kafka_errors("start producer"):
        await producer.start()
    try:
        futures = []
        for u in updates:
            value = sign_update(u, identity=identity, layout=layout)
            topic = layout.hashlist(u.owner, u.list)
            with translate_kafka_errors("publish list update"):
                futures.append(await producer.send(topic, value=value, key=u.entry_id.encode()))
        with translate_kafka_errors("publish list update"):
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(updates)


class ListFollower:
    """Tails every hash-list topic into a :class:`ListState`."""

    def __init__(
        self,
        *,
        conn: KafkaConnection,
        layout: TopicLayout,
        state: ListState,
        trust: TrustStore,
        agency: str,
        only: str | None = None,
    ) -> None:
        self.only = only
        self.conn = conn
        self.layout = layout
        self.state = state
        self.trust = trust
        self.agency = agency
        self.applied = 0
        self.rejected = 0
        self._consumer = conn.consumer(group_id=None, isolation_level="read_uncommitted")
        self._producer = conn.producer()
        self._assigned: set[TopicPartition] = set()
        self._last_refresh = 0.0

    async def __aenter__(self) -> ListFollower:
        with translate_kafka_errors("start list follower"):
            await self._consumer.start()
            await self._producer.start()
        await self._refresh()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def _refresh(self) -> None:
        """Assign every partition of every list topic (new lists are picked up here)."""
        self._last_refresh = time.monotonic()
        with translate_kafka_errors("list topics"):
            await self._consumer._client.force_metadata_update()
            topics = {t for t in await self._consumer.topics()}
        head = self.layout.hashlist_prefix()
        wanted: set[TopicPartition] = set()
        mine = [t for t in topics if t.startswith(head) and self.only in (None, t)]
        for topic in sorted(mine):
            for p in self._consumer.partitions_for_topic(topic) or {0}:
                wanted.add(TopicPartition(topic, p))
        if wanted == self._assigned:
            return
        self._consumer.assign(sorted(wanted))
        offsets = self.state.next_offsets()
        for tp in wanted:
            if tp in self._assigned:
                continue
            start = offsets.get((tp.topic, tp.partition))
            if start is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, start)
        self._assigned = wanted

    async def poll(self, *, timeout_ms: int = 500) -> int:
        """Read what is there, verify and apply it; return how many records were taken."""
        if time.monotonic() - self._last_refresh > 2.0:
            await self._refresh()
        if not self._assigned:
            await asyncio.sleep(timeout_ms / 1000)
            return 0
        with translate_kafka_errors("read list updates"):
            batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=20_000)
        taken = 0
        for tp, records in batches.items():
            good: list[Applied] = []
            for rec in records:
                taken += 1
                try:
                    update = open_update(
                        rec.value or b"", topic=tp.topic, layout=self.layout, trust=self.trust,
                        key=rec.key,
                    )  # fmt: skip
                except Error as exc:
                    await self._reject(rec.value or b"", rec.key, tp, rec.offset, exc)
                    self.state.advance(tp.topic, tp.partition, rec.offset + 1)
                    continue
                good.append(
                    Applied(
                        topic=tp.topic, partition=tp.partition, offset=rec.offset, update=update
                    )
                )
            if good:
                self.applied += self.state.apply(good)
        return taken

    async def _reject(
        self, value: bytes, key: bytes | None, tp: TopicPartition, offset: int, exc: Error
    ) -> None:
        self.rejected += 1
        log.warning("list update rejected at %s:%d@%d: %s", tp.topic, tp.partition, offset, exc)
        letter = DeadLetter.for_record(
            original=value, key=key, topic=tp.topic, partition=tp.partition, offset=offset,
            stage="CONSUMER", rejected_by=self.agency, reason=exc.reason,
            detail=exc.diagnostics(),
        )  # fmt: skip
        with translate_kafka_errors("dead-letter a list update"):
            await self._producer.send_and_wait(
                self.layout.rejected(self.agency), value=letter.to_bytes()
            )

    async def catch_up(self, *, idle_s: float = 1.0, stall_s: float = 120.0) -> int:
        """Read every list to its end as it stands now; return how many records were taken.

        Reads until each list partition's position reached the end offset it had when
        called and then nothing arrived for ``idle_s`` (a short silence alone is not
        "caught up" on a loaded machine: the next fetch may take longer than that). A list
        of millions of entries takes as long as it takes; :class:`TransportError` only if
        nothing arrives for ``stall_s`` seconds while a partition is still behind.
        """
        await self._refresh()
        ends: dict[TopicPartition, int] = {}
        if self._assigned:
            with translate_kafka_errors("list end offsets"):
                ends = await self._consumer.end_offsets(sorted(self._assigned))
        progress = time.monotonic()
        total = 0
        while True:
            got = await self.poll(timeout_ms=int(idle_s * 1000))
            total += got
            if got:
                progress = time.monotonic()
                continue
            behind = [tp for tp, end in ends.items() if await self._position(tp) < end]
            if not behind:
                return total
            if time.monotonic() - progress > stall_s:
                raise TransportError(
                    f"hash lists behind their end, nothing read for {stall_s:.0f} s",
                    detail=", ".join(f"{tp.topic}[{tp.partition}]" for tp in behind),
                )

    async def _position(self, tp: TopicPartition) -> int:
        with translate_kafka_errors("list position"):
            position: int = await self._consumer.position(tp)
        return position

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the lists until ``stop`` is set."""
        while not stop.is_set():
            await self.poll(timeout_ms=200)
