"""A federation on the real broker with a compressed request clock (urgent-direct = 4 s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import Settings
from broker.federation import init_federation
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics

AGENCIES = ["ES-PN", "DE-BKA", "PT-PJ", "IT-PS"]
#: urgent-direct 8 h -> 4 s, urgent-indirect 3 d -> 36 s, standard 7 d -> 84 s.
SCALE = 4 / (8 * 3600)


@pytest.fixture
async def fed(tmp_path: Path, kafka_bootstrap: str, unique: str) -> AsyncIterator[Settings]:
    settings = Settings(
        home=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"t{unique}",
        request_time_scale=SCALE,
        request_check_s=0.2,
    )
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=1)
    yield settings


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaConnection:
    return KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
