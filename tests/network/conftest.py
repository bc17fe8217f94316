"""A federation on disk wired to the session's real Kafka, isolated by a unique topic prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from broker import home
from broker.agency import AgencyNode
from broker.audit.events import ROUTER_STREAM
from broker.audit.journal import AuditJournal
from broker.audit.writer import load_audit_log
from broker.config import Settings
from broker.federation import init_federation
from broker.router import EnvelopeCheck, Router
from broker.router.service import RouterStats
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_trust

AGENCIES = ["ES-PN", "DE-BKA", "PT-PJ", "IT-PS"]
#: Idle-bounded rounds before a helper gives up waiting for what it expects (a loaded machine).
ROUNDS = 10


@dataclass
class Network:
    settings: Settings
    conn: KafkaConnection
    layout: TopicLayout

    def node(self, agency: str) -> AgencyNode:
        return AgencyNode.load(self.settings, agency=agency, conn=self.conn)

    def router(self, *, audited: bool = False) -> Router:
        """A router; ``audited``: with its audit stream, as ``broker router run`` builds it."""
        return Router(
            conn=self.conn,
            layout=self.layout,
            check=EnvelopeCheck(trust=load_trust(self.settings)),
            transactional_id=f"{self.layout.router_group}.test",
            audit=(
                load_audit_log(self.settings, stream=ROUTER_STREAM, conn=self.conn)
                if audited
                else None
            ),
        )

    async def route(self, *, expect: int) -> RouterStats:
        """Run routers until they consumed ``expect`` outbox records; return the summed stats.

        Each round ends on 2 s of silence, which under load can come before the first fetch.
        """
        total = RouterStats()
        for _ in range(ROUNDS):
            stats = await self.router().run(until_idle=2.0)
            total = RouterStats(
                **{f.name: getattr(total, f.name) + getattr(stats, f.name) for f in fields(total)}
            )
            if total.consumed >= expect:
                return total
        raise AssertionError(f"the router consumed {total.consumed} records, expected {expect}")

    def router_journal(self) -> list[bytes]:
        """The events the router journaled (its audit stream), encoded."""
        path = home.audit_journal(self.settings, ROUTER_STREAM)
        journal = AuditJournal.open(path, stream=ROUTER_STREAM)
        try:
            return journal.events()
        finally:
            journal.close()


@pytest.fixture
async def network(tmp_path: Path, kafka_bootstrap: str, unique: str) -> AsyncIterator[Network]:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}")
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=2)
    yield Network(settings=settings, conn=conn, layout=layout)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``large`` tests unless the ``-m`` expression names them (``-m large``)."""
    if "large" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="large: run with -m large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)
