"""The chaos rig's façade: a federation on a real cluster, its supervised processes, and counts.

:class:`ChaosNetwork` creates a fresh federation (ES-PN sends, DE-BKA and the
EUROPOL hub receive, PT-PJ's signing key is revoked) under its own topic prefix
on a running :class:`~broker.local.LocalCluster`, starts the real CLI processes
(``broker router run``, ``broker inbox --as DE-BKA --follow --json``,
``broker hub run``) under a supervisor (:mod:`~broker.devtools.chaos.supervise`)
that restarts and counts any process that dies on its own, publishes sealed
dossiers from ES-PN at a chosen rate (:mod:`~broker.devtools.chaos.publisher`),
and counts what was handled (:mod:`~broker.devtools.chaos.counting`).

Example (not run here: it needs a running cluster)::

    net = await ChaosNetwork.create(cluster=cluster, workdir=Path("/tmp/c"), name="demo")
    net.spawn_router(); net.spawn_inbox()
    sent = await net.send_stream(net.sealed(100, to=["DE-BKA"]), rate=50.0)
    await net.wait_handled({"DE-BKA": set(sent)}, stall=30)
    await net.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from broker import home, topics
from broker.config import Settings
from broker.devtools.chaos import counting
from broker.devtools.chaos.deadletters import DeadLetterReader
from broker.devtools.chaos.publisher import ChaosPublisher
from broker.devtools.chaos.supervise import Supervised, supervise
from broker.envelope import Verifier
from broker.errors import Error
from broker.federation import init_federation, revoke_key
from broker.local import LocalCluster
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import AgencyIdentity, TrustStore, load_identity, load_trust

__all__ = [
    "AGENCIES",
    "HUB",
    "RECIPIENT",
    "REVOKED",
    "SENDER",
    "ChaosError",
    "ChaosNetwork",
]

SENDER = "ES-PN"
RECIPIENT = "DE-BKA"
HUB = topics.HUB
#: Its signing key is revoked before any process starts; it only ever sends hostile records.
REVOKED = "PT-PJ"
AGENCIES = [RECIPIENT, SENDER, HUB, REVOKED]


class ChaosError(Error):
    """A chaos scenario could not be set up or run (not a finding: a broken run)."""

    reason = "chaos"


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
        self.publisher = ChaosPublisher(
            conn=conn, sender=self.sender, trust=self.trust, topic=self.layout.outbox(SENDER)
        )
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

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Supervised:
        """Start ``broker <args>`` as a supervised process called ``name`` (``env`` added)."""
        proc = Supervised(
            name=name, args=list(args), env={**self._env(), **(env or {})}, log_dir=self.log_dir
        )
        proc.start()
        self.processes[name] = proc
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(supervise(self.processes))
        return proc

    def spawn_router(self, name: str = "router") -> Supervised:
        """Start a router (several, under different names, share the outboxes)."""
        return self.spawn(name, "router", "run", "--max-batch", "200")

    def spawn_inbox(
        self, agency: str = RECIPIENT, *, instance: int = 0, env: dict[str, str] | None = None
    ) -> Supervised:
        """Start an inbox consumer whose handler prints one JSON line per delivery.

        ``instance`` > 0 starts another process of the same agency's inbox (same group).
        """
        name = f"inbox-{agency}" + (f"#{instance}" if instance else "")
        return self.spawn(name, "inbox", "--as", agency, "--follow", "--json", env=env)

    def spawn_hub(self) -> Supervised:
        """Start the hub (EUROPOL)."""
        return self.spawn("hub", "hub", "run", "--as", HUB)

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
        await self.publisher.close()

    # -- publishing (see ChaosPublisher) ------------------------------------------------------

    @property
    def sent_at(self) -> dict[str, float]:
        """Envelope id -> wall-clock time it was handed to the producer."""
        return self.publisher.sent_at

    @property
    def publish_retries(self) -> int:
        """Sends the publisher retried so far."""
        return self.publisher.retries

    def seal_dossier(self, *, to: list[str], suite: str = "classic") -> tuple[str, bytes]:
        """Seal the next pool dossier from ES-PN to ``to``; return (envelope id, bytes)."""
        return self.publisher.seal_dossier(to=to, suite=suite)

    def sealed(self, count: int, *, to: list[str]) -> Iterator[tuple[str, bytes]]:
        """Yield ``count`` freshly sealed dossiers (sealed lazily, one at a time)."""
        return self.publisher.sealed(count, to=to)

    async def producer(self) -> Any:
        """Return the harness's started producer (idempotent, acks=all)."""
        return await self.publisher.producer()

    async def send_stream(
        self,
        envelopes: Iterable[tuple[str | None, bytes]],
        *,
        rate: float,
        topic: str | None = None,
        stop: asyncio.Event | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Produce ``envelopes`` at ``rate`` per second (to ES-PN's outbox by default).

        Returns the ids Kafka acknowledged; see :meth:`ChaosPublisher.send_stream`.
        """
        return await self.publisher.send_stream(
            envelopes, rate=rate, topic=topic, stop=stop, on_sent=on_sent
        )

    async def inject(self, topic: str, value: bytes) -> asyncio.Future[object]:
        """Hand one raw record for ``topic`` to the producer; return its delivery future."""
        return await self.publisher.inject(topic, value)

    async def settle(self, pending: list[asyncio.Future[object]]) -> None:
        """Wait until Kafka acknowledged every future in ``pending`` (then clear it)."""
        await self.publisher.settle(pending)

    # -- counting (see counting.py) ------------------------------------------------------------

    def handled(self, agency: str, *, kind: str = "DOSSIER") -> dict[str, float]:
        """Return envelope id -> time stored, from ``agency``'s store (opened read-only)."""
        return counting.handled_at(home.agency_db(self.settings, agency), kind=kind)

    def handler_calls(self, agency: str = RECIPIENT) -> Counter[str]:
        """Count handler invocations per envelope id from the inbox processes' JSON lines.

        Every process of ``agency``'s inbox counts (``inbox-<AGENCY>`` and ``inbox-<AGENCY>#N``).
        """
        calls: Counter[str] = Counter()
        for name, proc in self.processes.items():
            if name == f"inbox-{agency}" or name.startswith(f"inbox-{agency}#"):
                calls += counting.handler_calls(proc.stdout_path)
        return calls

    async def wait_handled(
        self, expected: dict[str, set[str]], *, stall: float = 60.0, limit: float = 3600.0
    ) -> float:
        """Wait until every expected id is handled, or nothing new for ``stall`` seconds.

        Returns the wall-clock time the last expected id was seen handled (or now).
        """
        return await counting.wait_handled(self.handled, expected, stall=stall, limit=limit)

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
