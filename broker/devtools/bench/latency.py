"""End-to-end latency: publish to decrypted-in-handler, through the real router.

Three processes, as in a deployment: this one publishes as the sending agency
with :meth:`AgencyNode.publish_many` at a fixed offered rate (every 5 ms the
dossiers that have fallen due go out as one batch-signed chunk); the router is
``python -m broker router run`` loading the federation from the benchmark's home;
the receiving agency is :mod:`broker.devtools.bench.receiver` (:meth:`AgencyNode.consume`).
Each dossier's ``message_id`` carries its index; latency runs from the dossier's
*scheduled* send time (a publisher that falls behind is charged for it: no
coordinated omission) to the moment the receiver's handler holds the decrypted,
validated dossier, both read from ``CLOCK_MONOTONIC``. Peak RSS: the router's
``VmHWM`` read just before it is stopped, the receiver's own ``VmHWM`` at its end.

Example (not run here: it needs Kafka)::

    result = await measure(fed, rate=1000, seconds=10, size=4096, recipients=3, state=tmp,
                           run_id="b1a2")
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.agency import AgencyNode
from broker.devtools.bench.memory import proc_peak_rss_mib
from broker.devtools.bench.receiver import WARMUP_ID, clock
from broker.devtools.bench.workload import (
    RECIPIENTS,
    SENDER,
    BenchError,
    BenchFederation,
    create_topics,
    delete_topics,
    dossier,
)
from broker.topics import TopicLayout

__all__ = ["LatencyResult", "measure", "offer", "percentile"]

_TICK = 0.005


@dataclass(frozen=True, kw_only=True)
class LatencyResult:
    """Latency percentiles and what was offered and delivered."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    offered_per_s: float
    achieved_per_s: float
    delivered: int
    seconds: float
    router_peak_rss_mib: float
    receiver_peak_rss_mib: float


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.0
    """
    if not values:
        raise BenchError("no latency samples")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 1)))
    return ordered[int(rank) - 1]


def _spawn(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and modules, fixed arguments
            [sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(proc: subprocess.Popen[bytes], *, terminate: bool, timeout: float = 60.0) -> None:
    """(SIGTERM and) wait for ``proc``; kill it if it does not exit in time."""
    if terminate and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError("a bench subprocess did not exit", detail=str(proc.args)) from None


def _alive(proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    if proc.poll() is not None:
        tail = log.read_text(errors="replace")[-2000:]
        raise BenchError(f"the {what} exited early", detail=tail)


async def _until(
    predicate: Callable[[], bool],
    procs: list[tuple[subprocess.Popen[bytes], str, Path]],
    *,
    within: float,
    what: str,
) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        for proc, name, log in procs:
            _alive(proc, name, log)
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {name} log:\n{log.read_text(errors='replace')[-1500:]}"
                for _, name, log in procs
            )
            raise BenchError(what, detail=f"after {within:.0f} s\n{tails}")
        await asyncio.sleep(0.05)


async def offer(
    sender: AgencyNode,
    payloads: list[bytes],
    *,
    rate: float,
    codes: dict[str, Any],
    to: list[str],
    suite: str = "classic",
) -> tuple[float, float]:
    """Publish ``payloads`` at ``rate``/s on a fixed schedule; return (start, rate achieved).

    Dossier ``i`` is scheduled at ``start + i / rate`` (``start`` on :func:`clock`).

    Every 5 ms the dossiers that fell due go out as one batch-signed chunk, so a slow
    publish never delays the schedule (latency runs from the *scheduled* time: no
    coordinated omission).
    """
    tasks: list[asyncio.Task[object]] = []
    sent = 0
    total = len(payloads)
    start = clock()
    while sent < total:
        due = min(total, int((clock() - start) * rate) + 1)
        if due > sent:
            chunk = payloads[sent:due]
            tasks.append(
                asyncio.create_task(
                    sender.publish_many(chunk, kind="DOSSIER", codes=codes, to=to, suite=suite)
                )
            )
            sent = due
        await asyncio.sleep(_TICK)
    offered = total / (clock() - start)
    await asyncio.gather(*tasks)
    return start, offered


async def measure(
    fed: BenchFederation,
    *,
    rate: float,
    seconds: float,
    size: int,
    recipients: int,
    state: Path,
    run_id: str,
    suite: str = "classic",
) -> LatencyResult:
    """Offer ``rate`` dossiers/s for ``seconds`` through the router; return latencies."""
    prefix = f"{run_id}e2e"
    layout = TopicLayout(prefix=prefix)
    to = RECIPIENTS[:recipients]
    reader = to[0]
    topics = [
        layout.outbox(SENDER),
        layout.rejected(SENDER),
        layout.rejected(reader),
        layout.audit,
        *(layout.inbox(a) for a in to),
    ]
    await create_topics(fed.conn, topics)
    total = max(2, int(rate * seconds))
    noise = os.urandom(size)
    payloads = [
        dossier(size, message_id=f"MSG-BENCH-{i:07d}", seed=noise).to_bytes() for i in range(total)
    ]
    warmup = dossier(size, message_id=WARMUP_ID, seed=noise)
    codes = warmup.codes.to_avro()
    bootstrap = fed.settings.kafka_bootstrap or ""
    home = str(fed.settings.home)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "BROKER_TOPIC_PREFIX": prefix,
        "BROKER_OTEL_EXPORTER": "none",
    }
    await asyncio.to_thread(state.mkdir, parents=True, exist_ok=True)
    out = state / "received.json"
    router_log, receiver_log = state / "router.log", state / "receiver.log"
    router = _spawn(["broker", "router", "run", "--home", home], env=env, log=router_log)
    receiver = _spawn(
        [
            "broker.devtools.bench.receiver",
            "--home",
            home,
            "--bootstrap",
            bootstrap,
            "--prefix",
            prefix,
            "--agency",
            reader,
            "--count",
            str(total),
            "--out",
            str(out),
        ],
        env=env,
        log=receiver_log,
    )
    procs = [(router, "router", router_log), (receiver, "receiver", receiver_log)]
    sender = fed.node(SENDER, prefix=prefix, state=state)
    rss = {"router": 0.0, "receiver": 0.0}
    try:
        await sender.start()
        # Warm up: router and receiver subscribed and in their groups, metadata known.
        await sender.publish_many([warmup.to_bytes()], kind="DOSSIER", codes=codes, to=to)
        await _until(
            lambda: "WARM" in receiver_log.read_text(errors="replace"),
            procs,
            within=120.0,
            what="the warm-up dossier never arrived",
        )
        start, offered = await offer(sender, payloads, rate=rate, codes=codes, to=to, suite=suite)
        await _until(out.exists, procs, within=seconds + 120.0, what="not every dossier arrived")
        await asyncio.to_thread(_stop, receiver, terminate=False)
    finally:
        await sender.close()
        await asyncio.to_thread(_stop, receiver, terminate=True)
        # VmHWM, read while it runs: a child's rusage would report at least the RSS of
        # this (larger) process at fork time, which Linux carries over across exec.
        rss["router"] = proc_peak_rss_mib(router.pid) or 0.0
        await asyncio.to_thread(_stop, router, terminate=True)
        await delete_topics(fed.conn, topics)
    received = json.loads(out.read_text())
    rss["receiver"] = float(received["peak_rss_mib"])
    arrivals = {int(k): v for k, v in received["received"].items()}
    latencies = [(arrivals[i] - (start + i / rate)) * 1000 for i in range(total)]
    elapsed = max(arrivals.values()) - start
    return LatencyResult(
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        offered_per_s=offered,
        achieved_per_s=total / elapsed,
        delivered=len(latencies),
        seconds=elapsed,
        router_peak_rss_mib=rss["router"],
        receiver_peak_rss_mib=rss["receiver"],
    )
