"""Read every agency's rejected topic from the start: the dead letters a chaos run produced.

The hostile-input scenario compares each refused record's reason with the one
it expected; this reader collects them without joining a consumer group, so it
never disturbs the consumers under test.

Example (not run here: it needs a running cluster)::

    reader = DeadLetterReader(conn=conn, topics=[layout.rejected("DE-BKA")])
    letters = await reader.drain()
    await reader.close()
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from broker.deadletter import DeadLetter
from broker.transport import KafkaConnection, translate_kafka_errors

__all__ = ["DeadLetterReader"]


class DeadLetterReader:
    """Read every agency's rejected topic from the beginning, incrementally."""

    def __init__(self, *, conn: KafkaConnection, topics: list[str]) -> None:
        self._conn = conn
        self._topics = topics
        self._consumer: Any = None
        self.letters: list[DeadLetter] = []

    async def drain(self, *, quiet_polls: int = 2) -> list[DeadLetter]:
        """Read what is there now (until ``quiet_polls`` empty polls); return every letter."""
        if self._consumer is None:
            self._consumer = self._conn.consumer(group_id=None, client_id="chaos-deadletters")
            with translate_kafka_errors("start dead-letter reader"):
                await self._consumer.start()
                parts = []
                for topic in self._topics:
                    ids = self._consumer.partitions_for_topic(topic)
                    if not ids:
                        await self._consumer._client.force_metadata_update()
                        ids = self._consumer.partitions_for_topic(topic) or set()
                    parts += [TopicPartition(topic, p) for p in sorted(ids)]
                self._consumer.assign(parts)
                await self._consumer.seek_to_beginning()
        quiet = 0
        while quiet < quiet_polls:
            with translate_kafka_errors("read dead letters"):
                batch = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            got = [r for records in batch.values() for r in records]
            self.letters.extend(DeadLetter.from_bytes(r.value) for r in got)
            quiet = 0 if got else quiet + 1
        return self.letters

    async def close(self) -> None:
        """Stop the consumer."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
