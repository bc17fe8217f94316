"""Process CPU time per consumed envelope, offline: the whole agency consume path, no Kafka.

:func:`consume_cpu_us` seals ``n`` 4 KiB dossiers from ES-PN to three recipients
(64 per batch signature, like ``publish_many``), hands them as fake Kafka records
to DE-BKA's real :meth:`AgencyNode.consume` — fetched batches of 200, verify and
open, dossier validation, replay check, the SQLite store, the audit journal (both
real, in a temporary directory), the handler, offset commits to a fake consumer —
and returns the process CPU time (``time.process_time``) per envelope. Receipts
are off: they are a publish of their own. CPU time, not wall time, so a busy
machine hardly distorts it.

Example::

    >>> consume_cpu_us("classic", 64) > 0
    True

    $ python -m broker.devtools.bench.cpu_consume   # median of 5, both suites
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from broker.agency import AgencyNode, Delivery
from broker.agency.store import AgencyStore
from broker.audit.journal import AuditJournal
from broker.audit.writer import AuditLog
from broker.devtools.bench.workload import dossier
from broker.envelope import SealRequest, seal_batch
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust.testing import UnsafeTestFederation

__all__ = ["consume_cpu_us", "median_consume_cpu_us"]

SENDER = "ES-PN"
RECIPIENT = "DE-BKA"
RECIPIENTS = [RECIPIENT, "EUROPOL", "IT-PS"]
SIZE = 4096
FETCH = 200  # records per getmany, as the inbox asks for
SIGNED_BATCH = 64
# A producer's trace context, as the publisher injects it (W3C traceparent).
_TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class _Consumer:
    """What the inbox uses of an ``AIOKafkaConsumer``, serving a fixed record list."""

    records: list[_Record]
    committed: dict[TopicPartition, int] = field(default_factory=dict)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return set()  # no expiry check: nothing to compare against offline

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[_Record]]:
        chunk, self.records = self.records[:max_records], self.records[max_records:]
        if not chunk:
            return {}
        return {TopicPartition(chunk[0].topic, chunk[0].partition): chunk}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)


class _Producer:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, topic: str, **_: Any) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class _Connection(KafkaConnection):
    """A connection whose clients never touch the network."""

    def __init__(self, records: list[_Record]) -> None:
        super().__init__(bootstrap="offline:9092", client_id="bench-cpu")
        self._records = records

    def producer(self, **overrides: Any) -> Any:
        return _Producer()

    def consumer(self, *topics: str, group_id: str | None, **overrides: Any) -> Any:
        return _Consumer(self._records)


def _records(fed: UnsafeTestFederation, *, suite: str, n: int, topic: str) -> list[_Record]:
    d = dossier(SIZE)
    payload, codes = d.to_bytes(), d.codes.to_avro()
    sealed: list[bytes] = []
    for start in range(0, n, SIGNED_BATCH):
        requests = [
            SealRequest(
                payload=payload, kind="DOSSIER", codes=codes, recipients=RECIPIENTS, sequence=seq
            )
            for seq in range(start + 1, min(n, start + SIGNED_BATCH) + 1)
        ]
        sealed += seal_batch(requests, sender=fed.identity(SENDER), trust=fed.trust, suite=suite)
    headers = [("traceparent", _TRACEPARENT)]
    return [
        _Record(topic=topic, partition=0, offset=i, key=None, value=v, headers=headers)
        for i, v in enumerate(sealed)
    ]


def consume_cpu_us(suite: str, n: int) -> float:
    """Return process CPU µs per envelope for DE-BKA consuming ``n`` sealed 4 KiB dossiers."""
    fed = UnsafeTestFederation.create(agencies=[SENDER, *RECIPIENTS])
    layout = TopicLayout(prefix="bench")
    records = _records(fed, suite=suite, n=n, topic=layout.inbox(RECIPIENT))
    with tempfile.TemporaryDirectory(prefix="cpu-consume-") as tmp:
        here = Path(tmp)
        conn = _Connection(records)
        node = AgencyNode(
            identity=fed.identity(RECIPIENT),
            trust=fed.trust,
            conn=conn,
            layout=layout,
            store=AgencyStore.open(here / "state.db"),
            audit=AuditLog(
                journal=AuditJournal.open(here / "audit.db", stream=RECIPIENT),
                signer=None,
                conn=conn,
                topic=layout.audit,
            ),
        )
        got = 0

        async def handler(delivery: Delivery) -> None:
            nonlocal got
            got += delivery.dossier is not None

        async def run() -> float:
            started = time.process_time()
            stats = await node.consume(handler=handler, until_idle=0.0, send_receipts=False)
            spent = time.process_time() - started
            if stats.delivered != n or got != n:
                raise RuntimeError(f"consumed {stats.delivered} ({got} handled) of {n}: {stats}")
            node.store.close()
            if node.audit_log is not None:
                node.audit_log.journal.close()
            return spent

        spent = asyncio.run(run())
    return spent / n * 1e6


def median_consume_cpu_us(suite: str, n: int, *, runs: int = 5) -> float:
    """Return the median of ``runs`` calls of :func:`consume_cpu_us`."""
    return statistics.median(consume_cpu_us(suite, n) for _ in range(runs))


if __name__ == "__main__":
    import os

    load = os.getloadavg()
    for name in ("classic", "pq-hybrid"):
        figure = median_consume_cpu_us(name, 1000)
        print(f"cpu_us_consume_{name}: {figure:.0f}  (n=1000, median of 5, load {load[0]:.2f})")
