"""Run the whole benchmark against one real broker in one process run.

Order, per repetition, for every (size, recipients): plain produce + consume,
then secure classic publish + consume, then secure pq-hybrid publish + consume —
interleaved so machine drift affects both sides alike. Each measurement uses
fresh topics and consumer groups (deleted afterwards). Then end-to-end latency
through the router, the audit replay-verify rate, how sealing cost scales with
recipients and size (:mod:`broker.devtools.bench.scaling`), and peak RSS.

Example (not run here: it starts a Kafka JVM)::

    report = asyncio.run(run(options=Options(quick=True)))
    print(report.table())
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker.devtools.bench import latency, plain, secure, sweep
from broker.devtools.bench.audit import AUDIT_VERIFIER, _audit_verify_rate
from broker.devtools.bench.cpu import cpu_figures
from broker.devtools.bench.kafka import bench_kafka
from broker.devtools.bench.memory import peak_rss_mib, proc_peak_rss_mib
from broker.devtools.bench.report import Cell, Report
from broker.devtools.bench.scaling import seal_scaling
from broker.devtools.bench.workload import (
    RECIPIENTS,
    SENDER,
    BenchFederation,
    create_topics,
    delete_topics,
    dossier,
)
from broker.local import kafka_version
from broker.topics import TopicLayout

__all__ = ["Options", "run"]

SIZES = (1024, 4096, 65536)
RECIPIENT_COUNTS = (1, 3, 10)
SUITES = ("classic", "pq-hybrid")
#: The throughput publisher seals, and the consumer opens, on every core (forked workers).
CRYPTO_WORKERS = min(2, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0


@dataclass(frozen=True, kw_only=True)
class Options:
    """What to run: ``quick`` is the smoke test (one repetition, small counts)."""

    quick: bool = False
    repetitions: int | None = None
    bootstrap: str | None = None
    #: Forked crypto workers for the throughput nodes (seal and open); 0 keeps them in-process.
    crypto_workers: int = CRYPTO_WORKERS
    e2e_rate: float = 1000.0
    e2e_seconds: float | None = None
    #: Called with one line per finished step (the CLI prints them on stderr).
    progress: Callable[[str], None] | None = None

    def say(self, line: str) -> None:
        """Report progress, if anyone listens."""
        if self.progress is not None:
            self.progress(line)

    @property
    def reps(self) -> int:
        """Repetitions to run."""
        return self.repetitions or (1 if self.quick else 3)

    def count(self, size: int) -> int:
        """Records per measurement for ``size``-byte dossiers (about 12 MiB, at most 3,000)."""
        if self.quick:
            return 100 if size <= 4096 else 20
        return min(3000, max(300, (12 << 20) // size))

    @property
    def seconds(self) -> float:
        """Seconds of offered load for the latency run."""
        return self.e2e_seconds or (2.0 if self.quick else 10.0)

    @property
    def sweep_seconds(self) -> float:
        """Seconds of offered load per step of the rate sweep."""
        return 2.0 if self.quick else 3.0

    @property
    def audit_events(self) -> int:
        """Audit events to replay."""
        return 10_000 if self.quick else 100_000


async def run(*, options: Options) -> Report:
    """Run everything; start (and stop) a 1-node local Kafka unless a bootstrap is given."""
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as tmp:
        root = Path(tmp)
        async with bench_kafka(root, bootstrap=options.bootstrap) as (bootstrap, cluster):
            report = await _run(options, root, bootstrap)
            if cluster is not None:
                pids = cluster.running_pids()
                report.rss_peak_mib["kafka_broker_jvm"] = (
                    proc_peak_rss_mib(pids[0]) if pids else None
                )
            else:
                report.rss_peak_mib["kafka_broker_jvm"] = None  # not ours to measure
            report.rss_peak_mib["bench_process"] = peak_rss_mib()
            return report


async def _run(options: Options, root: Path, bootstrap: str) -> Report:
    load_start = os.getloadavg()
    fed = BenchFederation.create(home=root / "home", bootstrap=bootstrap)
    state = root / "state"
    # Topic and group names unique to this run: a shared or reused broker never mixes runs.
    run_id = f"bench{secrets.token_hex(3)}"
    cells: dict[tuple[int, int, str], Cell] = {}
    for rep in range(options.reps):
        for size in SIZES:
            for rcpts in RECIPIENT_COUNTS:
                await _measure_cell(
                    fed, options, cells, state, run_id=run_id, rep=rep, size=size, rcpts=rcpts
                )
                c, p = cells[size, rcpts, "classic"], cells[size, rcpts, "pq-hybrid"]
                options.say(
                    f"repetition {rep + 1}/{options.reps}, {size} B, {rcpts} recipient(s): "
                    f"plain {c.plain_produce[-1]:,.0f}/{c.plain_consume[-1]:,.0f}, "
                    f"classic {c.publish[-1]:,.0f}/{c.consume[-1]:,.0f}, "
                    f"pq {p.publish[-1]:,.0f}/{p.consume[-1]:,.0f} per s (produce/consume)"
                )
    e2e = await latency.measure(
        fed,
        rate=options.e2e_rate,
        seconds=options.seconds,
        size=4096,
        recipients=3,
        state=state,
        run_id=run_id,
    )
    options.say(f"end to end: p50 {e2e.p50_ms:,.1f} ms, p99 {e2e.p99_ms:,.1f} ms")
    swept = await sweep.sweep(
        fed,
        state=state / "sweep",
        run_id=run_id,
        seconds=options.sweep_seconds,
        long_rates={500.0: options.seconds},
        say=options.say,
    )
    options.say(f"highest offered rate at p99 <= 50 ms: {swept.max_rate:,.0f}/s")
    cpu = await asyncio.to_thread(
        cpu_figures,
        runs=1 if options.quick else max(3, options.reps),  # offline, cheap: always a median
        envelopes=128 if options.quick else 640,
        quick=options.quick,
        say=options.say,
    )
    audit = await asyncio.to_thread(_audit_verify_rate, options.audit_events)
    options.say(f"audit replay-verify: {audit:,.0f} events/s")
    scaling = await asyncio.to_thread(seal_scaling, rounds=3 if options.quick else 9)
    e2e_fields = {k: v for k, v in asdict(e2e).items() if not k.endswith("_peak_rss_mib")}
    return Report(
        repetitions=options.reps,
        cells=list(cells.values()),
        e2e=e2e_fields,
        audit_verify_events_per_s=audit,
        audit_verifier=AUDIT_VERIFIER,
        seal_scaling=scaling,
        cpu=cpu,
        sweep={
            "max_rate_p99_50ms": swept.max_rate,
            "e2e_p99_ms_at_500": swept.p99_at(500.0),
            "steps": [{"offered_per_s": r, "p99_ms": p} for r, p in swept.steps],
        },
        rss_peak_mib={
            "router_subprocess": e2e.router_peak_rss_mib,
            "receiver_subprocess": e2e.receiver_peak_rss_mib,
        },
        environment={
            **_environment(options),
            # Other work on a shared machine shows here: 1/5/15-minute load averages.
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
    )


async def _measure_cell(
    fed: BenchFederation,
    options: Options,
    cells: dict[tuple[int, int, str], Cell],
    state: Path,
    *,
    run_id: str,
    rep: int,
    size: int,
    rcpts: int,
) -> None:
    conn = fed.conn
    count = options.count(size)
    to = RECIPIENTS[:rcpts]
    tag = f"{run_id}r{rep}s{size}n{rcpts}"
    message = dossier(size)
    payload, codes = message.to_bytes(), message.codes.to_avro()
    topic = f"{tag}.plain"
    await create_topics(conn, [topic])
    produced = await plain.produce(conn, topic=topic, size=size, count=count)
    consumed = await plain.consume(conn, topic=topic, group=f"{tag}.plain", count=count)
    await delete_topics(conn, [topic])
    for suite in SUITES:
        cell = cells.setdefault(
            (size, rcpts, suite), Cell(size=size, recipients=rcpts, suite=suite, count=count)
        )
        cell.plain_produce.append(produced)
        cell.plain_consume.append(consumed)
        layout = TopicLayout(prefix=f"{tag}{suite}")
        topics = [layout.outbox(SENDER), layout.inbox(to[0]), layout.audit]
        await create_topics(conn, topics)
        sender = fed.node(
            SENDER, prefix=layout.prefix, state=state, crypto_workers=options.crypto_workers
        )
        try:
            cell.publish.append(
                await secure.publish(
                    sender, payload=payload, codes=codes, to=to, suite=suite, count=count
                )
            )
        finally:
            await sender.close()
        cell.envelope_bytes = await secure.copy_records(
            conn, source=topics[0], target=topics[1], count=count
        )
        receiver = fed.node(
            to[0], prefix=layout.prefix, state=state, crypto_workers=options.crypto_workers
        )
        try:
            cell.consume.append(await secure.consume(receiver, count=count))
        finally:
            await receiver.close()
        await delete_topics(conn, topics)


def _environment(options: Options) -> dict[str, Any]:
    """Describe the machine and the run (for the README and the JSON)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration, ValueError):
        mem_kib = 0
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "quick": options.quick,
        "counts": {str(size): options.count(size) for size in SIZES},
        "e2e_offered_per_s": options.e2e_rate,
        "e2e_seconds": options.seconds,
        "audit_events": options.audit_events,
        "crypto_workers": options.crypto_workers,
    }
