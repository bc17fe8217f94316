"""End-to-end latency: publish to decrypted-in-handler, through the real router.

The router is ``python -m broker router run`` in its own process (the second
core), loading the federation from the benchmark's home like any deployment.
This process publishes with :meth:`AgencyNode.publish_many` at a fixed offered
rate — every few milliseconds the dossiers that have fallen due go out as one
batch-signed chunk — and one recipient consumes with :meth:`AgencyNode.consume`.
Each dossier's ``message_id`` carries its index; latency is measured from the
dossier's *scheduled* send time (so a publisher that falls behind is charged
for it: no coordinated omission) to the moment the handler holds the decrypted,
validated dossier.

Example (not run here: it needs Kafka)::

    result = await measure(fed, rate=1000, seconds=10, size=4096, recipients=3, state=tmp)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from broker.bench.workload import (
    RECIPIENTS,
    SENDER,
    BenchError,
    BenchFederation,
    create_topics,
    dossier,
)
from broker.node import Delivery
from broker.topics import TopicLayout

__all__ = ["LatencyResult", "measure", "percentile"]

_TICK = 0.002
_PREFIX = "benche2e"


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


def _start_router(fed: BenchFederation, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": fed.settings.kafka_bootstrap or "",
        "BROKER_TOPIC_PREFIX": _PREFIX,
        "BROKER_OTEL_EXPORTER": "none",
    }
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            [sys.executable, "-m", "broker", "router", "run", "--home", str(fed.settings.home)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop_router(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """SIGTERM the router, reap it, and return its peak RSS in MiB (from its rusage)."""
    if proc.poll() is not None:
        raise BenchError("the router exited early", detail=f"exit status {proc.returncode}")
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_maxrss / 1024  # KiB on Linux
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise BenchError("the router did not stop on SIGTERM")
        time.sleep(0.05)


async def measure(
    fed: BenchFederation,
    *,
    rate: float,
    seconds: float,
    size: int,
    recipients: int,
    state: Path,
    suite: str = "classic",
) -> LatencyResult:
    """Offer ``rate`` dossiers/s for ``seconds`` through a router subprocess; return latencies."""
    layout = TopicLayout(prefix=_PREFIX)
    to = RECIPIENTS[:recipients]
    reader = to[0]
    await create_topics(
        fed.conn,
        [layout.outbox(SENDER), layout.rejected(SENDER), layout.rejected(reader)]
        + [layout.inbox(a) for a in to],
    )
    total = max(2, int(rate * seconds))
    noise = os.urandom(size)
    payloads = [
        dossier(size, message_id=f"MSG-BENCH-{i:07d}", seed=noise).to_bytes() for i in range(total)
    ]
    warmup = dossier(size, message_id="MSG-BENCH-WARMUP", seed=noise)
    codes = warmup.codes.to_avro()
    sender = fed.node(SENDER, prefix=_PREFIX, state=state)
    receiver = fed.node(reader, prefix=_PREFIX, state=state)
    latencies: list[float] = []
    start = 0.0
    warm, done, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        now = time.perf_counter()
        if delivery.dossier is None:
            raise BenchError("delivery without a decoded dossier")
        tail = delivery.dossier.message_id.rsplit("-", 1)[-1]
        if tail == "WARMUP":
            warm.set()
            return
        latencies.append((now - (start + int(tail) / rate)) * 1000)
        if len(latencies) == total:
            done.set()

    router = _start_router(fed, state / "router.log")
    router_rss = 0.0
    consumer: asyncio.Task[object] | None = None
    try:
        await sender.start()
        consumer = asyncio.create_task(
            receiver.consume(handler=handler, stop=stop, send_receipts=False)
        )
        # Warm up: router subscribed and in its group, consumer in its group, metadata known.
        await sender.publish_many([warmup.to_bytes()], kind="DOSSIER", codes=codes, to=to)
        await _wait(warm, consumer, 90.0, "warm-up dossier never arrived")
        tasks: list[asyncio.Task[object]] = []
        sent = 0
        start = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            if due > sent:
                chunk = payloads[sent:due]
                tasks.append(
                    asyncio.create_task(
                        sender.publish_many(chunk, kind="DOSSIER", codes=codes, to=to, suite=suite)
                    )
                )
                sent = due
            await asyncio.sleep(_TICK)
        offered = total / (time.perf_counter() - start)
        await asyncio.gather(*tasks)
        await _wait(done, consumer, seconds + 120.0, "not every dossier arrived")
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        if consumer is not None:
            await asyncio.gather(consumer, return_exceptions=True)
        await sender.close()
        await receiver.close()
        router_rss = _stop_router(router)
    return LatencyResult(
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        offered_per_s=offered,
        achieved_per_s=total / elapsed,
        delivered=len(latencies),
        seconds=elapsed,
        router_peak_rss_mib=router_rss,
    )


async def _wait(
    event: asyncio.Event, consumer: asyncio.Task[object], within: float, what: str
) -> None:
    waiter = asyncio.create_task(event.wait())
    finished, _ = await asyncio.wait(
        {waiter, consumer}, timeout=within, return_when=asyncio.FIRST_COMPLETED
    )
    if waiter not in finished:
        waiter.cancel()
        if consumer in finished:
            consumer.result()  # raise the consumer's error
        raise BenchError(what, detail=f"after {within:.0f} s")
