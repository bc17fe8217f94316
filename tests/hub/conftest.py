"""The ``fed`` fixture: a fresh federation, its topics on the session's Kafka, and a hub index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import Settings
from broker.federation import init_federation
from broker.home import hub_db
from broker.hub import HubIndex
from broker.topics import HUB, TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from tests.hub.live import AGENCIES, Fed


@pytest.fixture
async def fed(tmp_path: Path, kafka_bootstrap: str, unique: str) -> AsyncIterator[Fed]:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"h{unique}")
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=1)
    index = HubIndex.open(hub_db(settings, HUB))
    yield Fed(settings=settings, conn=conn, layout=layout, index=index)
    index.close()
