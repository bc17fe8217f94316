"""Shared chaos machinery: a federation on a real cluster, supervised processes, counting.

:class:`ChaosNetwork` creates a fresh federation (ES-PN sends, DE-BKA and the
EUROPOL hub receive, PT-PJ's signing key is revoked) under its own topic prefix
on a running :class:`~broker.local.LocalCluster`, starts the real CLI processes
(``broker router run``, ``broker inbox --as DE-BKA --follow --json``,
``broker hub run``) under a supervisor that restarts and counts any process that
dies on its own, and publishes sealed dossiers from ES-PN at a chosen rate.

Counting is independent of the code under test's own counters:

* **sent**: the envelope ids this harness sealed and Kafka acknowledged, with the
  wall-clock time each was handed to the producer;
* **handled**: the envelope ids in each recipient's SQLite inbox table (written
  in the same transaction as the de-duplication mark, after decrypt and
  validation) with the time they were stored;
* **handler calls**: DE-BKA's inbox handler prints one JSON line per call; the
  lines are counted per envelope id, so a record handed to the handler twice
  shows up even though the store keeps it once.

Example (not run here: it needs a running cluster)::

    net = await ChaosNetwork.create(cluster=cluster, workdir=Path("/tmp/c"), name="demo")
    net.spawn_router(); net.spawn_inbox()
    sent = await net.publish(count=100, rate=50.0, to=["DE-BKA"])
    await net.wait_handled({"DE-BKA": set(sent)}, stall=30)
    await net.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from broker import home, topics
from broker._internal.retry import retry_transport
from broker.config import Settings
from broker.deadletter import DeadLetter
from broker.envelope import Verifier, seal
from broker.errors import Error, TransportError
from broker.federation import init_federation, revoke_key
from broker.local import LocalCluster
from broker.synthetic import example_dossier
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore, load_identity, load_trust

__all__ = [
    "AGENCIES",
    "HUB",
    "RECIPIENT",
    "REVOKED",
    "SENDER",
    "ChaosError",
    "ChaosNetwork",
    "DeadLetterReader",
    "RssSampler",
    "Supervised",
    "recovery_seconds",
    "rss_mib",
]

log = logging.getLogger(__name__)

SENDER = "ES-PN"
RECIPIENT = "DE-BKA"
HUB = topics.HUB
#: Its signing key is revoked before any process starts; it only ever sends hostile records.
REVOKED = "PT-PJ"
AGENCIES = [RECIPIENT, SENDER, HUB, REVOKED]
_POOL = 256  # distinct synthetic dossiers cycled through by the publisher


class ChaosError(Error):
    """A chaos scenario could not be set up or run (not a finding: a broken run)."""

    reason = "chaos"


def rss_mib(pid: int) -> float | None:
    """Return the resident set size of ``pid`` in MiB (None if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Supervised:
    """One CLI process the harness starts, kills, restarts and watches for crashes."""

    def __init__(self, *, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.crashes = 0
        self.crash_tails: list[str] = []

    @property
    def pid(self) -> int | None:
        """The running process id (None when not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        return self.proc.pid

    def start(self) -> None:
        """Start (or restart) the process; stdout and stderr are appended to its logs."""
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
                [sys.executable, "-m", "broker", *self.args], env=self.env, stdout=out, stderr=err
            )

    def kill(self) -> float:
        """SIGKILL the process, reap it, and return the wall-clock time of the kill."""
        at = time.time()
        # Forget the process before signalling it: kill() runs in a worker thread, and the
        # supervisor must not see the SIGKILLed process and count it as a crash.
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            self.kills += 1
        return at

    def check(self) -> bool:
        """If the process died on its own, count a crash, restart it and return True."""
        if self.proc is None or self.proc.poll() is None:
            return False
        self.crashes += 1
        tail = self.stderr_path.read_text(errors="replace")[-1500:]
        self.crash_tails.append(f"exit {self.proc.returncode}: {tail}")
        log.error("%s died on its own (exit %s); restarting", self.name, self.proc.returncode)
        self.start()
        return True

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the process and wait (SIGKILL after ``grace`` seconds)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 10)


def recovery_seconds(
    fault_at: float, sent_at: dict[str, float], handled: dict[str, float]
) -> float | None:
    """Return seconds from ``fault_at`` until the first record sent after it was handled."""
    after = [handled[i] for i, t in sent_at.items() if t >= fault_at and i in handled]
    return max(0.0, min(after) - fault_at) if after else None


@dataclass
class RssSampler:
    """Sample VmRSS of named processes every ``interval`` seconds; keep the peak per name."""

    sources: dict[str, Callable[[], list[int]]]
    interval: float = 1.0
    peaks: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def sample(self) -> None:
        """Take one sample of every source."""
        self.samples += 1
        for name, pids in self.sources.items():
            total = sum(r for r in (rss_mib(p) for p in pids()) if r is not None)
            if total:
                self.peaks[name] = max(self.peaks.get(name, 0.0), total)

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set."""
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)


class DeadLetterReader:
    """Read every agency's rejected topic from the beginning, incrementally."""

    def __init__(self, *, conn: KafkaConnection, topics: list[str]) -> None:
        self._conn = conn
        self._topics = topics
        self._consumer: Any = None
        self.letters: list[DeadLetter] = []

    async def drain(self, *, quiet_polls: int = 2) -> list[DeadLetter]:
        """Read what is there now (until ``quiet_polls`` empty polls); return every letter."""
        if self._consumer is None:
            self._consumer = self._conn.consumer(group_id=None, client_id="chaos-deadletters")
            with translate_kafka_errors("start dead-letter reader"):
                await self._consumer.start()
                parts = []
                for topic in self._topics:
                    ids = self._consumer.partitions_for_topic(topic)
                    if not ids:
                        await self._consumer._client.force_metadata_update()
                        ids = self._consumer.partitions_for_topic(topic) or set()
                    parts += [TopicPartition(topic, p) for p in sorted(ids)]
                self._consumer.assign(parts)
                await self._consumer.seek_to_beginning()
        quiet = 0
        while quiet < quiet_polls:
            with translate_kafka_errors("read dead letters"):
                batch = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            got = [r for records in batch.values() for r in records]
            self.letters.extend(DeadLetter.from_bytes(r.value) for r in got)
            quiet = 0 if got else quiet + 1
        return self.letters

    async def close(self) -> None:
        """Stop the consumer."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class ChaosNetwork:
    """A federation under a fresh topic prefix on a running cluster, and its processes."""

    def __init__(
        self, *, cluster: LocalCluster, settings: Settings, conn: KafkaConnection, revoked: str
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.conn = conn
        self.layout = TopicLayout(prefix=settings.topic_prefix)
        self.trust: TrustStore = load_trust(settings)
        self.sender: AgencyIdentity = load_identity(settings, agency=SENDER, trust=self.trust)
        self.revoked_identity: AgencyIdentity | None = None
        self.revoked_key_id = revoked
        self.created_at = dt.datetime.now(dt.UTC)
        self.log_dir = settings.home / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, Supervised] = {}
        self.sent_at: dict[str, float] = {}
        self.publish_retries = 0
        self._sequence = 0
        self._payloads = [example_dossier(10_000 + i) for i in range(_POOL)]
        self._encoded = [(d.to_bytes(), d.codes.to_avro()) for d in self._payloads]
        self._producer: Any = None
        self._supervisor: asyncio.Task[None] | None = None
        self._verifier = Verifier(trust=self.trust)

    @classmethod
    async def create(cls, *, cluster: LocalCluster, workdir: Path, name: str) -> ChaosNetwork:
        """Create the federation, revoke PT-PJ's signing key, create the topics."""
        prefix = f"chaos-{name}-{secrets.token_hex(3)}"
        home = workdir / prefix
        home.mkdir(parents=True)
        settings = Settings(home=home, kafka_bootstrap=cluster.bootstrap, topic_prefix=prefix)
        net = cls.on_disk(cluster=cluster, settings=settings)
        await ensure_topics(net.conn, layout=net.layout, agencies=AGENCIES, partitions=3)
        return net

    @classmethod
    def on_disk(cls, *, cluster: LocalCluster, settings: Settings) -> ChaosNetwork:
        """Create the federation under ``settings.home`` and revoke PT-PJ's signing key.

        Touches no Kafka (:meth:`create` also creates the topics), so the hostile
        records can be checked against the verifier offline.
        """
        init_federation(settings, agencies=AGENCIES)
        # Keep PT-PJ's identity from before the revocation: an attacker holding a stolen key.
        revoked_identity = load_identity(settings, agency=REVOKED)
        key_id = revoked_identity.signing.key_id
        revoke_key(settings, agency=REVOKED, key_id=key_id, reason="chaos: key compromised")
        net = cls(cluster=cluster, settings=settings, conn=cluster.connection(), revoked=key_id)
        net.revoked_identity = revoked_identity
        return net

    # -- processes ------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return dict(
            os.environ,
            BROKER_HOME=str(self.settings.home),
            KAFKA_BOOTSTRAP=self.cluster.bootstrap,
            BROKER_TOPIC_PREFIX=self.layout.prefix,
            PYTHONUNBUFFERED="1",
        )

    def spawn(self, name: str, *args: str) -> Supervised:
        """Start ``broker <args>`` as a supervised process called ``name``."""
        proc = Supervised(name=name, args=list(args), env=self._env(), log_dir=self.log_dir)
        proc.start()
        self.processes[name] = proc
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise())
        return proc

    def spawn_router(self) -> Supervised:
        """Start the router."""
        return self.spawn("router", "router", "run", "--max-batch", "200")

    def spawn_inbox(self, agency: str = RECIPIENT) -> Supervised:
        """Start an inbox consumer whose handler prints one JSON line per delivery."""
        return self.spawn(f"inbox-{agency}", "inbox", "--as", agency, "--follow", "--json")

    def spawn_hub(self) -> Supervised:
        """Start the hub (EUROPOL)."""
        return self.spawn("hub", "hub", "run", "--as", HUB)

    async def _supervise(self) -> None:
        while True:
            for proc in list(self.processes.values()):
                proc.check()
            await asyncio.sleep(0.5)

    @property
    def crashes(self) -> int:
        """Processes that died on their own so far (each was restarted)."""
        return sum(p.crashes for p in self.processes.values())

    def crash_notes(self) -> list[str]:
        """Return one note per crash, with the end of the process's stderr."""
        return [
            f"{p.name} crashed: {tail[-400:]!r}"
            for p in self.processes.values()
            for tail in p.crash_tails
        ]

    def python_pids(self) -> dict[str, Callable[[], list[int]]]:
        """Return RSS sources for every supervised process (pids change on restart)."""

        def source(proc: Supervised) -> Callable[[], list[int]]:
            return lambda: [p] if (p := proc.pid) is not None else []

        return {name: source(proc) for name, proc in self.processes.items()}

    def jvm_pids(self) -> dict[str, Callable[[], list[int]]]:
        """Return RSS sources for each Kafka JVM."""

        def source(node_id: int) -> Callable[[], list[int]]:
            def pids() -> list[int]:
                node = next(n for n in self.cluster.nodes if n.node_id == node_id)
                running = self.cluster.running_pids()
                return [node.pid] if node.pid is not None and node.pid in running else []

            return pids

        return {f"kafka-{n.node_id}": source(n.node_id) for n in self.cluster.nodes}

    async def close(self) -> None:
        """Stop every process and the publisher."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await asyncio.gather(*(p.stop() for p in self.processes.values()))
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    # -- publishing -------------------------------------------------------------------------

    def seal_dossier(self, *, to: list[str], suite: str = "classic") -> tuple[str, bytes]:
        """Seal the next pool dossier from ES-PN to ``to``; return (envelope id, bytes)."""
        self._sequence += 1
        payload, codes = self._encoded[self._sequence % _POOL]
        envelope_id = secrets.token_hex(16)
        data = seal(
            payload,
            kind="DOSSIER",
            codes=codes,
            sender=self.sender,
            recipients=to,
            trust=self.trust,
            sequence=self._sequence,
            suite=suite,
            envelope_id=envelope_id,
        )
        return envelope_id, data

    def sealed(self, count: int, *, to: list[str]) -> Iterator[tuple[str, bytes]]:
        """Yield ``count`` freshly sealed dossiers (sealed lazily, one at a time)."""
        for _ in range(count):
            yield self.seal_dossier(to=to)

    async def producer(self) -> Any:
        """Return the harness's started producer (idempotent, acks=all)."""
        if self._producer is None:
            self._producer = self.conn.producer(client_id="chaos-publisher", linger_ms=5)
            with translate_kafka_errors("start chaos publisher"):
                await self._producer.start()
        return self._producer

    async def _send_retrying(self, topic: str, value: bytes, attempts: int = 10) -> None:
        producer = await self.producer()

        async def send() -> None:
            with translate_kafka_errors("chaos publish"):
                await producer.send_and_wait(topic, value=value, key=secrets.token_bytes(16))

        def count(_: TransportError) -> None:
            self.publish_retries += 1

        await retry_transport(
            send, what="chaos publish", attempts=attempts, base=0.5, cap=5.0, on_retry=count
        )

    async def send_stream(
        self,
        envelopes: Iterable[tuple[str | None, bytes]],
        *,
        rate: float,
        topic: str | None = None,
        stop: asyncio.Event | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Produce ``envelopes`` at ``rate`` per second; return the ids Kafka acknowledged.

        Envelopes with an id are recorded as sent (with the time they were handed to
        the producer); ``None`` ids are other records (hostile ones) sent in the same
        stream. A send that fails is retried with the same bytes: Kafka may then hold
        it twice, which the consumers must refuse as a replay.
        """
        producer = await self.producer()
        topic = topic or self.layout.outbox(SENDER)
        acked: list[str] = []
        pending: list[tuple[Any, str | None, str, bytes]] = []
        started = time.monotonic()

        async def settle() -> None:
            for future, envelope_id, tp, value in pending:
                try:
                    with translate_kafka_errors("chaos publish"):
                        await future
                except TransportError:
                    await self._send_retrying(tp, value)
                    self.publish_retries += 1
                if envelope_id is not None:
                    acked.append(envelope_id)
            pending.clear()

        for i, (envelope_id, value) in enumerate(envelopes):
            if stop is not None and stop.is_set():
                break
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if envelope_id is not None:
                self.sent_at[envelope_id] = time.time()
            try:
                with translate_kafka_errors("chaos publish"):
                    future = await producer.send(topic, value=value, key=secrets.token_bytes(16))
            except TransportError:
                await self._send_retrying(topic, value)
                if envelope_id is not None:
                    acked.append(envelope_id)
                continue
            pending.append((future, envelope_id, topic, value))
            if len(pending) >= 500:
                await settle()
            if on_sent is not None:
                on_sent(i + 1)
        await settle()
        return acked

    async def inject(self, topic: str, value: bytes) -> asyncio.Future[object]:
        """Hand one raw record for ``topic`` to the producer; return its delivery future."""
        producer = await self.producer()
        with translate_kafka_errors("inject"):
            future: asyncio.Future[object] = await producer.send(
                topic, value=value, key=secrets.token_bytes(16)
            )
        return future

    async def settle(self, pending: list[asyncio.Future[object]]) -> None:
        """Wait until Kafka acknowledged every future in ``pending`` (then clear it)."""
        with translate_kafka_errors("inject"):
            await asyncio.gather(*pending)
        pending.clear()

    # -- counting ---------------------------------------------------------------------------

    def handled(self, agency: str, *, kind: str = "DOSSIER") -> dict[str, float]:
        """Return envelope id -> time stored, from ``agency``'s SQLite inbox table."""
        path = home.agency_db(self.settings, agency)
        if not path.exists():
            return {}
        db = sqlite3.connect(path, timeout=30)
        try:
            rows = db.execute(
                "SELECT envelope_id, received_at FROM inbox WHERE kind = ?", (kind,)
            ).fetchall()
        except sqlite3.OperationalError:
            return {}  # the process has not created its tables yet
        finally:
            db.close()
        return {str(r[0]): float(r[1]) for r in rows}

    def handler_calls(self, agency: str = RECIPIENT) -> Counter[str]:
        """Count handler invocations per envelope id from the inbox process's JSON lines."""
        proc = self.processes.get(f"inbox-{agency}")
        calls: Counter[str] = Counter()
        if proc is None or not proc.stdout_path.exists():
            return calls
        for line in proc.stdout_path.read_text(errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("kind") == "DOSSIER":
                calls[str(doc["envelope_id"])] += 1
        return calls

    async def wait_handled(
        self, expected: dict[str, set[str]], *, stall: float = 60.0, limit: float = 3600.0
    ) -> float:
        """Wait until every expected id is handled, or nothing new for ``stall`` seconds.

        Returns the wall-clock time the last expected id was seen handled (or now).
        """
        deadline = time.monotonic() + limit
        last_progress, last_count = time.monotonic(), -1
        while time.monotonic() < deadline:
            done = 0
            for agency, ids in expected.items():
                done += len(ids & self.handled(agency).keys())
            if done >= sum(len(ids) for ids in expected.values()):
                return time.time()
            if done != last_count:
                last_progress, last_count = time.monotonic(), done
            elif time.monotonic() - last_progress > stall:
                log.warning("no progress for %.0f s: %d handled", stall, done)
                break
            await asyncio.sleep(0.5)
        return time.time()

    def dead_letter_reader(self) -> DeadLetterReader:
        """Return a reader of every agency's rejected topic."""
        topics = [self.layout.rejected(a) for a in AGENCIES]
        return DeadLetterReader(conn=self.conn, topics=topics)

    def expired_now(self) -> dt.datetime:
        """Return a creation time at which every key was already valid, seconds ago.

        The federation's keys are only valid from its creation, so an envelope that
        has expired is one created just after that with a one-second lifetime.
        """
        return self.created_at + dt.timedelta(seconds=1)
