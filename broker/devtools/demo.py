"""The multi-agency demo: the whole network end to end on a real local Kafka.

A federation of ES-PN, DE-BKA, PT-PJ, IT-PS, AR-PFA, CL-PDI and EUROPOL; the
router, the hub and every national inbox consumer run as separate processes
(``broker router run``, ``broker hub run``, ``broker inbox``); the national units
publish a synthetic operation's dossiers (:mod:`broker.devtools.operation`) to EUROPOL
and some bilaterally, in both suites; a hostile record is injected; receipts,
hit notifications and release requests flow back. It ends with a summary read
from the agencies' own state, including the hub's precision and recall against
the generator's ground truth.

Example::

    $ broker demo            # or: make demo
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from broker import home, topics
from broker.acls import AUDITOR
from broker.agency import AgencyNode
from broker.agency.store import AgencyStore
from broker.audit.auditor import export_archive, flush_stream, replay_and_verify
from broker.audit.events import FEDERATION_STREAM
from broker.audit.verify import AuditVerifier
from broker.config import Settings
from broker.connect import connection_for
from broker.devtools.demo_hotline import run_hotline_step
from broker.devtools.demo_recall import demo_recall
from broker.devtools.demo_requests import RequestsDemo, run_requests
from broker.devtools.demo_seizure import SeizureResult, seized_device
from broker.devtools.operation import generate_operation
from broker.federation import init_federation
from broker.hub import HubIndex
from broker.local import LocalCluster, read_record
from broker.topics import TopicLayout
from broker.transport import ensure_topics
from broker.trust.distribution import publish_registry

__all__ = ["DemoResult", "run_demo"]

NATIONAL = ["ES-PN", "DE-BKA", "PT-PJ", "IT-PS", "AR-PFA", "CL-PDI"]
HUB = topics.HUB
AGENCIES = [*NATIONAL, HUB]


@dataclass
class DemoResult:
    """What the demo measured."""

    sent: int = 0
    deliveries_expected: int = 0
    delivered: int = 0
    receipts_delivered: int = 0
    unacknowledged: int = 0
    hostile_injected: int = 0
    rejected: int = 0
    per_agency: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    hit_notifications: int = 0
    release_requests: int = 0
    links_found: int = 0
    links_true: int = 0
    precision: float = 0.0
    recall: float = 0.0
    known_found: int = 0
    known_true: int = 0
    audit_events: int = 0
    audit_checkpoints: int = 0
    audit_streams: int = 0
    audit_findings: list[str] = field(default_factory=list)
    audit_rejections: int = 0
    audit_export: Path | None = None
    #: The closing recall: holder -> its answer (DESTROYED expected from each).
    recalled: dict[str, str] = field(default_factory=dict)
    requests: RequestsDemo | None = None
    seizure: SeizureResult | None = None

    @property
    def ok(self) -> bool:
        """Whether everything arrived exactly once and every hostile record was refused."""
        return (
            self.delivered == self.deliveries_expected
            and self.unacknowledged == 0
            and self.rejected == self.hostile_injected
            and self.precision == 1.0
            and self.recall == 1.0
            and self.known_found == self.known_true
            and self.audit_events > 0
            and not self.audit_findings
            and self.audit_rejections == self.hostile_injected
            and bool(self.recalled)
            and set(self.recalled.values()) == {"DESTROYED"}
            and (self.requests is None or self.requests.ok)
            and (self.seizure is None or self.seizure.ok)
        )


def _spawn(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BROKER_HOME=str(settings.home))
    out = log.open("wb")
    try:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "broker", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        out.close()


async def run_demo(
    settings: Settings, *, seed: int = 2026, say: Callable[[str], None] = print
) -> DemoResult:
    """Run the demo under ``settings.home`` (wiped first); return the measured result."""
    result = DemoResult()
    started = time.monotonic()
    for sub in ("agencies", "keys", "state"):
        shutil.rmtree(settings.home / sub, ignore_errors=True)
    say("== 1/6 starting a real local Kafka (jars from Maven Central, cached)")
    cluster = await LocalCluster.start(state_dir=settings.state_dir, cache_dir=settings.cache_dir)
    try:
        say(f"   Kafka {cluster.bootstrap}")
        say(f"== 2/6 federation of {', '.join(AGENCIES)}: root, keys, certificates, topics")
        init_federation(settings, agencies=AGENCIES)
        layout = TopicLayout(prefix=settings.topic_prefix)
        await ensure_topics(cluster.connection(), layout=layout, agencies=AGENCIES)
        # The public registry goes to the compacted federation topic, as `federation init` does.
        await publish_registry(settings, cluster.connection(), layout=layout)
        await flush_stream(settings, stream=FEDERATION_STREAM, conn=cluster.connection())
        await seized_device(settings, result, say=say)  # hashed and sent before routing starts
        say("== 3/6 router, hub and 6 national inbox consumers as separate processes")
        logs = settings.state_dir / "demo-logs"
        logs.mkdir(parents=True, exist_ok=True)
        op = generate_operation(seed)
        known = settings.state_dir / "known-material.txt"
        known.write_text("\n".join(op.known_material) + "\n")
        # The demo stops these processes once everything settled (_settle); the idle exit is
        # only a safety net should the demo itself die.
        idle = "900"
        procs = [_spawn(settings, "router", "run", "--until-idle", idle, log=logs / "router.log")]
        procs.append(
            _spawn(
                settings,
                "hub",
                "run",
                "--as",
                HUB,
                "--known-material",
                str(known),
                "--until-idle",
                idle,
                log=logs / "hub.log",
            )
        )
        procs += [
            _spawn(settings, "inbox", "--as", a, "--until-idle", idle, log=logs / f"{a}.log")
            for a in NATIONAL
        ]
        people = sum(len(p.dossier.persons) for p in op.dossiers)
        say(
            f"== 4/6 synthetic operation: {len(op.dossiers)} dossiers, {people} person entries, "
            f"{len(op.cross_border)} true cross-border links, {len(op.known_hits)} known hits"
        )
        rng = random.Random(seed)  # noqa: S311 - deterministic demo data, not crypto
        nodes = {
            u: AgencyNode.load(settings, agency=u, conn=connection_for(settings, u))
            for u in NATIONAL
        }
        try:
            for i, pub in enumerate(op.dossiers, start=1):
                suite = "pq-hybrid" if rng.random() < 0.3 else "classic"
                await nodes[pub.agency].publish_dossier(pub.dossier, to=pub.recipients, suite=suite)
                result.sent += 1
                result.deliveries_expected += len(pub.recipients)
                if i % 25 == 0 or i == len(op.dossiers):
                    say(f"   published {i}/{len(op.dossiers)}")
        finally:
            for node in nodes.values():
                await node.close()
        try:
            await run_hotline_step(settings, say=say)  # hotlines join mid-demo (demo_hotline.py)
        except Exception:
            for line in _exited(procs, logs):  # a dead router or hub is the likely cause
                say(line)
            raise
        say("== 5/6 a hostile record (garbage in IT-PS's outbox); hub matching, notifications")
        producer = cluster.connection().producer()
        await producer.start()
        try:
            await producer.send_and_wait(layout.outbox("IT-PS"), b"\x00not an envelope")
            result.hostile_injected = 1
        finally:
            await producer.stop()
        say("   waiting for routing, matching, notifications and receipts to settle ...")
        if not await _settle(settings, cluster, layout, procs, dead_letters=1, within=SETTLE_S):
            say(f"   WARNING: not settled after {SETTLE_S:.0f} s; stopping the processes")
        for p in procs:
            if p.poll() is None:
                p.terminate()  # a clean stop: in-flight work finishes, audit flushed
        await asyncio.gather(*(asyncio.to_thread(p.wait) for p in procs))
        failed = [p.args for p in procs if p.returncode not in (0, 128 + 15)]
        if failed:
            say(f"   WARNING: processes failed: {failed} (logs in {logs})")
            for line in _exited(procs, logs):
                say(line)
        result.requests = await run_requests(settings, say=say)
        say("== 6/6 summary")
        for agency in AGENCIES:
            store = AgencyStore.open(home.agency_db(settings, agency))
            try:
                got = len(store.inbox(kind="DOSSIER"))
                result.per_agency[agency] = got
                result.delivered += got
                for item in store.sent():
                    if item.kind != "DOSSIER":
                        continue
                    for status in item.status.values():
                        if status == "DELIVERED":
                            result.receipts_delivered += 1
                        elif status == "UNACKNOWLEDGED":
                            result.unacknowledged += 1
            finally:
                store.close()
        result.rejected = await _count_dead_letters(cluster, layout)
        for agency in NATIONAL:
            store = AgencyStore.open(home.agency_db(settings, agency))
            try:
                result.hit_notifications += len(store.inbox(kind="HIT_NOTIFICATION"))
                result.release_requests += len(store.inbox(kind="RELEASE_REQUEST"))
            finally:
                store.close()
        index = HubIndex.open(home.hub_db(settings, HUB))
        try:
            found = {k for k in index.links() if not k.startswith("pdq:")}
            truth = set(op.cross_border)
            hits = set(index.known_hits())
        finally:
            index.close()
        result.links_found = len(found)
        result.links_true = len(truth)
        tp = len(found & truth)
        result.precision = tp / len(found) if found else 0.0
        result.recall = tp / len(truth) if truth else 1.0
        result.known_found = len(hits & set(op.known_hits))
        result.known_true = len(op.known_hits)
        if result.seizure is not None:  # read back before the recall: it may pick that dossier
            result.seizure.received()
        say("   recall: the owner stays in control after sending")
        result.recalled = {ln.holder: ln.status for ln in await demo_recall(settings, say=say)}
        say("   replaying fed.audit from offset 0 and verifying every stream ...")
        audit = await replay_and_verify(settings, conn=cluster.connection(AUDITOR))
        report = audit.report
        result.audit_events = report.events
        result.audit_checkpoints = report.checkpoints
        result.audit_streams = len(report.streams)
        result.audit_findings = [f.line() for f in report.findings]
        result.audit_rejections = _count_rejections(audit)
        export_dir = settings.state_dir / "audit-export"
        shutil.rmtree(export_dir, ignore_errors=True)
        await export_archive(settings, export_dir, conn=cluster.connection(AUDITOR), agency=HUB)
        result.audit_export = export_dir
    finally:
        await cluster.stop()
    result.seconds = time.monotonic() - started
    return result


def _exited(procs: list[subprocess.Popen[bytes]], logs: Path, *, tail: int = 12) -> list[str]:
    """Name each demo process that exited with an error, with the end of its log."""
    out = []
    for p in procs:
        if p.poll() in (None, 0, 128 + 15, -15):
            continue
        args = [str(a) for a in p.args]  # type: ignore[union-attr]  # _spawn passes a list
        role = args[3]  # python -m broker <role> ... (router, hub, inbox)
        who = args[args.index("--as") + 1] if "--as" in args else role
        log = logs / ("hub.log" if role == "hub" else f"{who}.log")
        out.append(f"   process `broker {role}` ({who}) exited with {p.returncode}; end of {log}:")
        lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
        out += [f"     | {line}" for line in lines[-tail:]]
    return out


def _count_rejections(verifier: AuditVerifier) -> int:
    """Count REJECT audit events (every dead letter must have one)."""
    rules = verifier.rules
    return rules.rejections if rules is not None else 0


#: Longest the demo waits for the federation to settle (a noisy CI machine is slow).
SETTLE_S = 420.0


def _unacknowledged(settings: Settings) -> int:
    """Count (envelope, recipient) pairs among the demo's agencies with no receipt yet.

    (The hotlines' inboxes run only during their own step, so what goes to them is not awaited.)
    """
    missing = 0
    for agency in AGENCIES:
        path = home.agency_db(settings, agency)
        if not path.exists():
            continue
        store = AgencyStore.open_read_only(path)
        try:
            for item in store.sent():
                if item.kind != "RECEIPT":
                    missing += sum(
                        s == "UNACKNOWLEDGED" for r, s in item.status.items() if r in AGENCIES
                    )
        finally:
            store.close()
    return missing


async def _settle(
    settings: Settings,
    cluster: LocalCluster,
    layout: TopicLayout,
    procs: list[subprocess.Popen[bytes]],
    *,
    dead_letters: int,
    within: float,
) -> bool:
    """Wait until every envelope sent is acknowledged and the dead letters are written.

    Receipts go out after the recipient's handler ran, so an acknowledged dossier was
    also matched by the hub, and an acknowledged notification was handled by its owner.
    Returns False after ``within`` seconds, or as soon as a process exits early.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        if _unacknowledged(settings) == 0 and (
            await _count_dead_letters(cluster, layout) >= dead_letters
        ):
            return True
        await asyncio.sleep(1.0)
    return False


async def _count_dead_letters(cluster: LocalCluster, layout: TopicLayout) -> int:
    """Count every record in every agency's rejected topic."""
    topics = [layout.rejected(a) for a in AGENCIES]
    consumer = cluster.connection().consumer(*topics, group_id=None)
    await consumer.start()
    total, quiet = 0, 0
    try:
        while quiet < 3:  # three empty polls in a row: the topics are drained
            batch = await consumer.getmany(timeout_ms=500)
            got = sum(len(records) for records in batch.values())
            total += got
            quiet = 0 if got else quiet + 1
    finally:
        await consumer.stop()
    return total


def default_settings() -> Settings:
    """Return the demo's settings: home ``./state/demo`` unless BROKER_HOME is set."""
    if os.environ.get("BROKER_HOME"):
        return Settings()
    return Settings(home=Path("state/demo").resolve())


def already_running(settings: Settings) -> bool:
    """Whether a local Kafka is already recorded in the demo home."""
    return read_record(settings.state_dir) is not None
