"""The ``fed`` fixture of the console tests (a fresh federation with a hub on the real Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hub.live import Fed, federation


@pytest.fixture
async def fed(tmp_path: Path, kafka_bootstrap: str, unique: str) -> AsyncIterator[Fed]:
    async with federation(tmp_path, kafka_bootstrap=kafka_bootstrap, prefix=f"c{unique}") as f:
        yield f


@pytest.fixture
def console_env(fed: Fed) -> dict[str, str]:
    """The environment `broker console` runs in: this federation's home, Kafka and prefix."""
    return {
        "BROKER_HOME": str(fed.settings.home),
        "KAFKA_BOOTSTRAP": fed.conn.bootstrap,
        "BROKER_TOPIC_PREFIX": fed.layout.prefix,
    }
