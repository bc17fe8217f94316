"""The ``fed`` fixture of the hub tests (a fresh federation with a hub on the real Kafka)."""

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
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"c{unique}")
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=1)
    index = HubIndex.open(hub_db(settings, HUB))
    yield Fed(settings=settings, conn=conn, layout=layout, index=index)
    index.close()


@pytest.fixture
def console_env(fed: Fed) -> dict[str, str]:
    """The environment `broker console` runs in: this federation's home, Kafka and prefix."""
    return {
        "BROKER_HOME": str(fed.settings.home),
        "KAFKA_BOOTSTRAP": fed.conn.bootstrap,
        "BROKER_TOPIC_PREFIX": fed.layout.prefix,
    }
