"""The router, DE-BKA's inbox consumer and the hub, each SIGKILLed at random points.

A stream of dossiers from ES-PN to DE-BKA and EUROPOL flows throughout; each
process in turn is killed with SIGKILL ``kill_rounds`` times at a random moment
and restarted at once. The router's transaction is fenced and aborted by its
successor (same ``transactional.id``); the consumers resume from committed
offsets and refuse what their SQLite seen-set already holds.

Example (not run here: it needs a 3-node cluster)::

    result = await process_kills(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import random
import time

from broker.devtools.chaos.counting import recovery_seconds
from broker.devtools.chaos.harness import HUB, RECIPIENT
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts

__all__ = ["process_kills"]


async def process_kills(ctx: Context, *, seed: int | None = None) -> ScenarioResult:
    """Kill the router, the consumer and the hub ``kill_rounds`` times each, mid-stream."""
    sizes = ctx.sizes
    rng = random.Random(seed)  # noqa: S311 - choosing kill moments, not crypto
    result = ScenarioResult(scenario="process-kills")
    started = time.monotonic()
    net = await ctx.network("procs")
    targets = [
        (net.spawn_router(), RECIPIENT),
        (net.spawn_inbox(), RECIPIENT),
        (net.spawn_hub(), HUB),
    ]
    try:
        stop = asyncio.Event()
        rate = max(5.0, sizes.stream_rate / 2)
        rounds = sizes.kill_rounds * len(targets)
        budget = int(rate * (5 + rounds * sizes.kill_stream_s + 10))
        stream = asyncio.create_task(
            net.send_stream(net.sealed(budget, to=[RECIPIENT, HUB]), rate=rate, stop=stop)
        )
        await asyncio.sleep(3.0)  # let the stream flow through every process first
        kills: list[tuple[float, str, str]] = []  # (when, process, agency whose store shows it)
        worst: dict[str, float] = {}
        for proc, agency in targets:
            for _ in range(sizes.kill_rounds):
                await asyncio.sleep(rng.uniform(1.0, sizes.kill_stream_s))
                if stream.done():
                    break
                at = await asyncio.to_thread(proc.kill)
                proc.start()
                kills.append((at, proc.name, agency))
        await asyncio.sleep(3.0)
        stop.set()
        acked = set(await stream)
        expected = {RECIPIENT: acked, HUB: acked}
        await net.wait_handled(expected, stall=sizes.stall_s)
        faults = {at: agency for at, _, agency in kills}
        finish_counts(result, net, expected, faults=list(faults), fault_agency=faults)
        handled = {agency: net.handled(agency) for agency in expected}
        for at, name, agency in kills:
            took = recovery_seconds(at, net.sent_at, handled[agency])
            if took is not None:
                worst[name] = max(worst.get(name, 0.0), took)
        result.notes.append(
            f"{len(acked)} dossiers x 2 recipients at {rate:.0f}/s; kills: "
            + ", ".join(f"{p.name} {p.kills}" for p, _ in targets)
            + "; worst recovery s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in worst.items())
        )
    finally:
        await net.close()
    result.seconds = time.monotonic() - started
    return result
