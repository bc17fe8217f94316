"""Retention: no topic silently keeps Kafka's 7-day default (issue 13)."""

from __future__ import annotations

import asyncio

import pytest

from broker.config import Settings
from broker.retention import DAY_MS, NEVER, Gap, Retention
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics, topic_configs
from tests.kafka_helpers import create_topic


def test_audit_and_federation_never_expire_inboxes_and_outboxes_are_configurable() -> None:
    layout = TopicLayout(prefix="fed")
    r = Settings(inbox_retention_days=120, outbox_retention_days=30).retention
    assert r.retention_ms(layout, layout.audit) == NEVER
    assert r.retention_ms(layout, layout.federation) == NEVER
    assert r.retention_ms(layout, layout.rejected("ES-PN")) == NEVER
    assert r.retention_ms(layout, layout.inbox("ES-PN")) == 120 * DAY_MS
    assert r.retention_ms(layout, layout.outbox("ES-PN")) == 30 * DAY_MS
    assert r.topic_configs(layout, layout.audit) == {"retention.ms": "-1", "retention.bytes": "-1"}


@pytest.mark.parametrize("days", [0, -2, -0.5])
def test_a_retention_that_deletes_at_once_is_refused(days: float) -> None:
    with pytest.raises(ValueError, match="retention"):
        Settings(inbox_retention_days=days)
    with pytest.raises(ValueError, match="inbox_ms"):
        Retention(inbox_ms=int(days * DAY_MS))


def test_a_gap_names_the_lost_range() -> None:
    gap = Gap(topic="fed.inbox.ES-PN", partition=1, committed=5, earliest=8)
    assert (gap.lost, gap.where) == (3, "fed.inbox.ES-PN/1/5-7")
    assert "offsets 5..7 of fed.inbox.ES-PN[1] (up to 3 record(s))" in gap.describe()


async def test_audit_topic_does_not_expire_after_a_week_so_auditors_replay_from_offset_0(
    kafka_conn: KafkaConnection, unique: str
) -> None:
    layout = TopicLayout(prefix=f"r{unique}")
    await ensure_topics(kafka_conn, layout=layout, agencies=["ES-PN"], partitions=1)
    async with kafka_conn.admin() as admin:
        configs = await topic_configs(admin, [layout.audit, layout.inbox("ES-PN")])
    assert configs[layout.audit]["retention.ms"] == "-1"
    assert configs[layout.audit]["retention.bytes"] == "-1"
    assert configs[layout.inbox("ES-PN")]["retention.ms"] == str(90 * DAY_MS)


async def test_topics_created_by_an_older_version_with_the_7_day_default_are_altered(
    kafka_conn: KafkaConnection, unique: str
) -> None:
    layout = TopicLayout(prefix=f"r{unique}")
    await create_topic(kafka_conn, layout.audit)  # Kafka's default: 7 days
    await create_topic(kafka_conn, layout.federation, configs={"cleanup.policy": "compact"})
    await ensure_topics(kafka_conn, layout=layout, agencies=["ES-PN"], partitions=1)
    # The altered config becomes visible once the controller applied it (under load, a
    # moment after AlterConfigs answered): read it until both topics show it, or 30 s.
    async with kafka_conn.admin() as admin:
        for _ in range(150):
            configs = await topic_configs(admin, [layout.audit, layout.federation])
            if all("retention.ms" in configs[t] for t in (layout.audit, layout.federation)):
                break
            await asyncio.sleep(0.2)
    assert configs[layout.audit]["retention.ms"] == "-1"
    # AlterConfigs replaces a topic's whole config: what was set stays set.
    assert configs[layout.federation]["cleanup.policy"] == "compact"
    assert configs[layout.federation]["retention.ms"] == "-1"
