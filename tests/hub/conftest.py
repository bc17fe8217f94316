"""The ``fed`` fixture: a fresh federation, its topics on the session's Kafka, and a hub index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hub.live import Fed, federation


@pytest.fixture
async def fed(tmp_path: Path, kafka_bootstrap: str, unique: str) -> AsyncIterator[Fed]:
    async with federation(tmp_path, kafka_bootstrap=kafka_bootstrap, prefix=f"h{unique}") as f:
        yield f
