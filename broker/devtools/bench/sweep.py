"""Offered-rate sweep: the highest rate the three-process pipeline keeps at p99 <= 50 ms.

One router (``broker router run``) and one receiver
(:mod:`broker.devtools.bench.receiver` in ``--stream`` mode) run for the whole sweep;
this process publishes as the sending agency, as in :mod:`broker.devtools.bench.latency`
(every 5 ms the dossiers that fell due go out as one batch-signed chunk; latency runs
from each dossier's *scheduled* time to the receiver's handler, on ``CLOCK_MONOTONIC``).
Each step offers one rate for a few seconds with fresh message indexes, waits until
every dossier of the step arrived (the queue is drained before the next step) and
takes the step's p99.

The search is bounded: coarse steps (:data:`COARSE`) up to the first that misses,
then :data:`BISECTIONS` bisections between the last pass and that miss. A step whose
dossiers do not all arrive within ``drain`` seconds counts as a miss (p99 infinite).

Example (not run here: it needs Kafka)::

    result = await sweep(fed, state=tmp, run_id="b1a2", seconds=3.0)
    result.max_rate, result.p99_at(500)
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from broker.devtools.bench.latency import _spawn, _stop, _until, offer, percentile
from broker.devtools.bench.receiver import WARMUP_ID
from broker.devtools.bench.workload import (
    RECIPIENTS,
    SENDER,
    BenchFederation,
    create_topics,
    delete_topics,
    dossier,
)
from broker.topics import TopicLayout

__all__ = ["BISECTIONS", "COARSE", "GOAL_MS", "SweepResult", "sweep"]

#: The latency goal the sweep searches for.
GOAL_MS = 50.0
#: Offered rates tried first, in order, until one misses the goal.
COARSE = (250.0, 500.0, 1000.0, 1500.0, 2000.0)
#: Bisections between the last rate that met the goal and the first that missed.
BISECTIONS = 3


@dataclass(kw_only=True)
class SweepResult:
    """Every step's offered rate and p99 (ms), and the highest rate at p99 <= the goal."""

    steps: list[tuple[float, float]] = field(default_factory=list)
    max_rate: float = 0.0

    def p99_at(self, rate: float) -> float | None:
        """Return the p99 of the step at ``rate`` (None if not tried)."""
        return next((p for r, p in self.steps if r == rate), None)


class _Pipeline:
    """Router and receiver subprocesses, and the sending node, for a whole sweep."""

    def __init__(self, fed: BenchFederation, *, state: Path, run_id: str) -> None:
        self.fed = fed
        self.state = state
        self.prefix = f"{run_id}sweep"
        self.layout = TopicLayout(prefix=self.prefix)
        self.to = RECIPIENTS[:3]
        self.topics = [
            self.layout.outbox(SENDER),
            self.layout.rejected(SENDER),
            self.layout.rejected(self.to[0]),
            self.layout.audit,
            *(self.layout.inbox(a) for a in self.to),
        ]
        self.arrivals = state / "sweep-arrivals.txt"
        self.noise = os.urandom(4096)
        self.next_index = 0
        self._read = 0
        self.received: dict[int, float] = {}

    async def start(self) -> None:
        await create_topics(self.fed.conn, self.topics)
        await asyncio.to_thread(self.state.mkdir, parents=True, exist_ok=True)
        bootstrap = self.fed.settings.kafka_bootstrap or ""
        home = str(self.fed.settings.home)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": bootstrap,
            "BROKER_TOPIC_PREFIX": self.prefix,
            "BROKER_OTEL_EXPORTER": "none",
        }
        self.router_log = self.state / "sweep-router.log"
        self.receiver_log = self.state / "sweep-receiver.log"
        self.router = _spawn(
            ["broker", "router", "run", "--home", home], env=env, log=self.router_log
        )
        self.receiver = _spawn(
            [
                "broker.devtools.bench.receiver",
                *("--home", home, "--bootstrap", bootstrap, "--prefix", self.prefix),
                *("--agency", self.to[0], "--count", "0"),
                *("--out", str(self.state / "sweep-received.json")),
                *("--stream", str(self.arrivals)),
            ],
            env=env,
            log=self.receiver_log,
        )
        self.procs = [
            (self.router, "router", self.router_log),
            (self.receiver, "receiver", self.receiver_log),
        ]
        self.sender = self.fed.node(SENDER, prefix=self.prefix, state=self.state)
        await self.sender.start()
        warm = dossier(4096, message_id=WARMUP_ID, seed=self.noise)
        self.codes = warm.codes.to_avro()
        await self.sender.publish_many(
            [warm.to_bytes()], kind="DOSSIER", codes=self.codes, to=self.to
        )
        await _until(
            lambda: "WARM" in self.receiver_log.read_text(errors="replace"),
            self.procs,
            within=120.0,
            what="the sweep's warm-up dossier never arrived",
        )

    async def close(self) -> None:
        try:
            await self.sender.close()
        finally:
            await asyncio.to_thread(_stop, self.receiver, terminate=True)
            await asyncio.to_thread(_stop, self.router, terminate=True)
            await delete_topics(self.fed.conn, self.topics)

    def _poll(self) -> None:
        with self.arrivals.open() as f:
            f.seek(self._read)
            chunk = f.read()
        done = chunk.rfind("\n") + 1
        self._read += done
        for line in chunk[:done].splitlines():
            index, at = line.split()
            self.received[int(index)] = float(at)

    async def step(self, rate: float, seconds: float, drain: float) -> float:
        """Offer ``rate``/s for ``seconds``; return the step's p99 in ms (inf if undrained)."""
        total = max(2, int(rate * seconds))
        first = self.next_index
        self.next_index += total
        payloads = [
            dossier(4096, message_id=f"MSG-BENCH-{first + i:07d}", seed=self.noise).to_bytes()
            for i in range(total)
        ]
        start, _ = await offer(self.sender, payloads, rate=rate, codes=self.codes, to=self.to)
        wanted = range(first, first + total)
        deadline = time.monotonic() + drain
        while True:
            self._poll()
            if all(i in self.received for i in wanted):
                break
            if time.monotonic() > deadline:
                return math.inf
            for proc, name, log in self.procs:
                if proc.poll() is not None:
                    await _until(lambda: False, [(proc, name, log)], within=0, what=name)
            await asyncio.sleep(0.1)
        latencies = [(self.received[first + i] - (start + i / rate)) * 1000 for i in range(total)]
        return percentile(latencies, 0.99)


async def sweep(
    fed: BenchFederation,
    *,
    state: Path,
    run_id: str,
    seconds: float = 3.0,
    drain: float = 60.0,
    long_rates: dict[float, float] | None = None,
    say: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run the bounded sweep (see the module docstring); ``long_rates``: rate -> seconds."""
    pipe = _Pipeline(fed, state=state, run_id=run_id)
    result = SweepResult()
    await pipe.start()
    try:

        async def trial(rate: float) -> bool:
            p99 = await pipe.step(rate, (long_rates or {}).get(rate, seconds), drain)
            result.steps.append((rate, p99))
            if say is not None:
                say(f"sweep: {rate:,.0f}/s offered, p99 {p99:,.1f} ms")
            return p99 <= GOAL_MS

        passed, missed = 0.0, None
        for rate in COARSE:
            if await trial(rate):
                passed = rate
            else:
                missed = rate
                break
        for rate in sorted((long_rates or {}).keys() - {r for r, _ in result.steps}):
            await trial(rate)  # a rate whose p99 is reported even past the first miss
        if missed is not None:
            low, high = passed, missed
            for _ in range(BISECTIONS):
                mid = round((low + high) / 2, -1)
                if mid in (low, high):
                    break
                if await trial(mid):
                    low = mid
                else:
                    high = mid
            passed = low
        result.max_rate = passed
    finally:
        await pipe.close()
    return result
