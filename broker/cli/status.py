"""``broker status --as AGENCY``: how far behind each consumer is, against its topic's retention.

Per partition of the agency's inbox (and, with ``--router``, of every outbox the
router reads): the retention, the committed, earliest and end offsets, the lag and
the age of the oldest unread record. ``WARNING`` when that age passes half the
retention (records will expire unread unless the consumer catches up); ``LOSS``
when records already expired unread (the consumer reports it as an audited
``expired-unread`` loss when it next runs).

Example::

    $ broker status --as DE-BKA
    $ broker status --as DE-BKA --json
    $ broker status --router
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import typer

from broker.cli._common import HomeOption, settings_for
from broker.config import Settings
from broker.connect import connection_for
from broker.errors import Error
from broker.retention import DAY_MS, NEVER, WARN_FRACTION, PartitionStatus, group_status
from broker.topics import ROUTER, TopicLayout
from broker.transport import topic_configs
from broker.trust import load_trust

__all__ = ["status"]


async def collect(settings: Settings, *, agency: str | None, router: bool) -> list[PartitionStatus]:
    """Return the status of ``agency``'s inbox group, or of the router's group on every outbox."""
    layout = TopicLayout(prefix=settings.topic_prefix)
    if router:
        conn = connection_for(settings, ROUTER)
        topics = [layout.outbox(a) for a in load_trust(settings).agency_ids()]
        group = layout.router_group
    elif agency is not None:
        conn = connection_for(settings, agency)
        topics, group = [layout.inbox(agency)], layout.consumer_group(agency)
    else:
        raise ValueError("collect needs an agency or router=True")
    retention = {t: settings.retention.retention_ms(layout, t) for t in topics}
    try:  # what the topic really has, if we may describe it (else what we would create)
        async with conn.admin() as admin:
            actual = await topic_configs(admin, topics)
        for t, configs in actual.items():
            retention[t] = int(configs.get("retention.ms", 7 * DAY_MS))  # Kafka's default
    except Error:
        pass
    now = int(time.time() * 1000)
    out: list[PartitionStatus] = []
    for t in topics:
        out += await group_status(conn, topic=t, group=group, retention_ms=retention[t], now_ms=now)
    return out


def _days(ms: int | None) -> str:
    if ms is None:
        return "-"
    return "never" if ms == NEVER else f"{ms / DAY_MS:.1f}d"


def status(
    agency: str | None = typer.Option(
        None, "--as", help="Agency whose inbox consumer to show (required without --router)."
    ),
    router: bool = typer.Option(False, "--router", help="Show the router's outboxes instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """Show each partition's lag and oldest unread record against the topic's retention."""
    if agency is None and not router:
        raise typer.BadParameter("give --as AGENCY, or --router for the router's outboxes")
    rows = asyncio.run(collect(settings_for(home), agency=agency, router=router))
    if as_json:
        data = [
            {
                "topic": r.topic,
                "partition": r.partition,
                "retention_ms": r.retention_ms,
                "committed": r.committed,
                "earliest": r.earliest,
                "end": r.end,
                "lag": r.lag,
                "oldest_unread_ms": r.oldest_unread_ms,
                "warning": r.warning,
                "expired_unread": r.expired_unread,
            }
            for r in rows
        ]
        typer.echo(json.dumps(data, indent=1))
        return
    for r in rows:
        flags = (" LOSS: records expired unread" if r.expired_unread else "") + (
            f" WARNING: oldest unread is older than {WARN_FRACTION:.0%} of retention"
            if r.warning
            else ""
        )
        typer.echo(
            f"{r.topic}[{r.partition}] retention {_days(r.retention_ms)} "
            f"committed {r.committed if r.committed is not None else '-'} "
            f"earliest {r.earliest} end {r.end} lag {r.lag} "
            f"oldest unread {_days(r.oldest_unread_ms)}{flags}"
        )
