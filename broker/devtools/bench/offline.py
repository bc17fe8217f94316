"""The agency node's real code paths with Kafka taken out: CPU time per envelope, offline.

:class:`OfflineConnection` stands in for :class:`~broker.transport.KafkaConnection`:
its producers acknowledge every record at once (and keep what was sent), its
consumers hand out the records they were given, in fetches of ``max_records``.
Everything else is the deployed code: :class:`~broker.agency.AgencyNode` with a real
SQLite store and a real audit journal in a temporary directory (the journal is never
published: no Kafka). Only the benchmark uses this; tests run against real Kafka.

CPU figures are *process* CPU time (``time.process_time``): another user's load on
the machine does not inflate them the way it inflates wall-clock rates.

Example::

    >>> import asyncio
    >>> conn = OfflineConnection()
    >>> producer = conn.producer()
    >>> meta = asyncio.run(_send_and_ack(producer))
    >>> (meta.topic, meta.offset, len(conn.sent))
    ('t', 0, 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from broker.agency import AgencyNode
from broker.agency.store import AgencyStore
from broker.audit.journal import AuditJournal
from broker.audit.keys import load_audit_signer
from broker.audit.writer import AuditLog
from broker.devtools.bench.workload import BenchFederation
from broker.topics import TopicLayout
from broker.transport import KafkaConnection

__all__ = [
    "OfflineConnection",
    "OfflineRecord",
    "close_offline",
    "offline_federation",
    "offline_node",
]

#: Offline runs never connect: this address is only carried around.
_NOWHERE = "127.0.0.1:9"


@dataclass(frozen=True)
class OfflineRecord:
    """What a consumer hands out (the attributes the node reads of an aiokafka record)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class _Meta:
    topic: str
    partition: int
    offset: int


class _Producer:
    def __init__(self, sent: list[OfflineRecord]) -> None:
        self._sent = sent

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None = None, headers: Any = None
    ) -> asyncio.Future[_Meta]:
        record = OfflineRecord(topic, 0, len(self._sent), key, value, list(headers or []))
        self._sent.append(record)
        future: asyncio.Future[_Meta] = asyncio.get_running_loop().create_future()
        future.set_result(_Meta(topic, 0, record.offset))
        return future


class _Consumer:
    def __init__(self, records: list[OfflineRecord], topic: str) -> None:
        self._records = records
        self._tp = TopicPartition(topic, 0)
        self._next = 0
        self.commits = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return {self._tp}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def committed(self, tp: TopicPartition) -> int | None:
        return None

    async def getmany(self, *, timeout_ms: int = 0, max_records: int = 500) -> dict[Any, list[Any]]:
        chunk = self._records[self._next : self._next + max_records]
        self._next += len(chunk)
        return {self._tp: chunk} if chunk else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits += 1


@dataclass(frozen=True, kw_only=True)
class OfflineConnection(KafkaConnection):
    """A connection whose clients never leave the process (see the module docstring)."""

    bootstrap: str = _NOWHERE
    sent: list[OfflineRecord] = field(default_factory=list)
    inbox: list[OfflineRecord] = field(default_factory=list)

    def producer(self, **overrides: Any) -> Any:
        """Return a producer that acknowledges at once and appends to :attr:`sent`."""
        return _Producer(self.sent)

    def consumer(self, *topics: str, group_id: str | None, **overrides: Any) -> Any:
        """Return a consumer that hands out :attr:`inbox`."""
        return _Consumer(self.inbox, topics[0] if topics else "offline")


async def _send_and_ack(producer: Any) -> Any:
    return await (await producer.send("t", value=b"x"))


@contextlib.contextmanager
def offline_federation() -> Iterator[tuple[BenchFederation, Path]]:
    """Yield the benchmark federation (:data:`SENDER` and recipients) and a state directory."""
    with tempfile.TemporaryDirectory(prefix="broker-cpu-") as tmp:
        root = Path(tmp)
        yield BenchFederation.create(home=root / "home", bootstrap=_NOWHERE), root / "state"


def offline_node(
    fed: BenchFederation, agency: str, *, state: Path, conn: OfflineConnection, suite: str
) -> AgencyNode:
    """Return ``agency``'s node on ``conn``: real store and audit journal under ``state``."""
    here = state / agency
    layout = TopicLayout(prefix="cpu")
    return AgencyNode(
        identity=fed.identities[agency],
        trust=fed.trust,
        conn=conn,
        layout=layout,
        store=AgencyStore.open(here / "state.db"),
        suite=suite,
        audit=AuditLog(
            journal=AuditJournal.open(here / "audit.db", stream=agency),
            signer=load_audit_signer(fed.settings, stream=agency),
            conn=conn,
            topic=layout.audit,
            checkpoint_copy=here / "audit-checkpoint.note",
        ),
    )


def close_offline(node: AgencyNode) -> None:
    """Close ``node``'s store and journal without publishing anything."""
    if node.audit_log is not None:
        node.audit_log.journal.close()
    node.store.close()
