"""DE-BKA's inbox SIGKILLed between a batch's commit and its handlers, several times.

A stream of dossiers from ES-PN to DE-BKA flows through the router; each round arms
:data:`~broker.devtools.chaos.faults.KILL_AFTER_ACCEPT`, so the inbox process kills
itself right after ``accept_many`` committed a batch (seen-marks, stored payloads,
``pending_handler`` marks) and before the first of its handlers ran. The restarted
inbox must hand each of those deliveries to its handler exactly once, from the store,
and refuse Kafka's re-delivery of the uncommitted batch as replays: 0 lost, 0
duplicated (the handler's own JSON lines are counted).

Example (not run here: it needs a 3-node cluster)::

    result = await kill_after_accept(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import random
import time

from broker.devtools.chaos.faults import KILL_AFTER_ACCEPT
from broker.devtools.chaos.harness import RECIPIENT
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts

__all__ = ["kill_after_accept"]


async def kill_after_accept(ctx: Context, *, seed: int | None = None) -> ScenarioResult:
    """Kill DE-BKA's inbox ``kill_rounds`` times between accept_many and its handlers."""
    sizes = ctx.sizes
    rng = random.Random(seed)  # noqa: S311 - choosing kill moments, not crypto
    result = ScenarioResult(scenario="kill-after-accept")
    started = time.monotonic()
    net = await ctx.network("accept")
    marker = net.settings.home / "kill-after-accept.armed"
    net.spawn_router()
    inbox = net.spawn_inbox(env={KILL_AFTER_ACCEPT: str(marker)})
    try:
        stop = asyncio.Event()
        rate = max(5.0, sizes.stream_rate / 2)
        budget = int(rate * (5 + sizes.kill_rounds * (sizes.kill_stream_s + 10) + 10))
        stream = asyncio.create_task(
            net.send_stream(net.sealed(budget, to=[RECIPIENT]), rate=rate, stop=stop)
        )
        await asyncio.sleep(3.0)  # let the stream flow through every process first
        kills: list[float] = []
        missed = 0
        for _ in range(sizes.kill_rounds):
            await asyncio.sleep(rng.uniform(1.0, sizes.kill_stream_s))
            if stream.done():
                break
            at = await inbox.await_own_kill(marker.touch, within=sizes.stall_s)
            if at is None:
                missed += 1
            else:
                kills.append(at)
        await asyncio.sleep(3.0)
        stop.set()
        acked = set(await stream)
        expected = {RECIPIENT: acked}
        await net.wait_handled(expected, stall=sizes.stall_s)
        finish_counts(result, net, expected, faults=kills)
        if missed:  # the fault never fired: the window was not exercised
            result.error = f"{missed} of {sizes.kill_rounds} arming(s) did not kill the inbox"
        result.notes.append(
            f"{len(acked)} dossiers at {rate:.0f}/s; inbox killed after accept_many "
            f"{len(kills)} time(s)"
        )
    finally:
        await net.close()
    result.seconds = time.monotonic() - started
    return result
