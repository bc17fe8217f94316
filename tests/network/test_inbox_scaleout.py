"""Several inbox processes of one agency: a commit for a partition the group moved is skipped."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from broker.errors import TransportError
from broker.transport import skip_if_partition_moved, translate_kafka_errors
from tests.network.conftest import Network

pytestmark = pytest.mark.kafka


async def test_commit_for_a_partition_moved_to_another_inbox_process_is_skipped(
    network: Network,
) -> None:
    topic = network.layout.inbox("DE-BKA")
    group = network.layout.consumer_group("DE-BKA")
    consumer = network.conn.consumer(group_id=group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])  # partition 1 now belongs to someone else
        moved = TopicPartition(topic, 1)
        with skip_if_partition_moved("DE-BKA"):
            with translate_kafka_errors("commit inbox offsets"):
                await consumer.commit({moved: 5})
        assert await consumer.committed(TopicPartition(topic, 0)) is None
        # Any other failure still propagates.
        with pytest.raises(TransportError), skip_if_partition_moved("DE-BKA"):
            with translate_kafka_errors("commit inbox offsets"):
                raise OSError("connection reset")
    finally:
        await consumer.stop()
