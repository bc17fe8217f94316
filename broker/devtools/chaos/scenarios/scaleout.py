"""Two routers and two inbox processes share the work; one router is SIGKILLed mid-stream.

A stream of dossiers from ES-PN to DE-BKA flows through two ``broker router run``
processes (one consumer group over the outboxes, one transactional id per outbox
partition, :mod:`broker.router.fencing`) into two ``broker inbox --as DE-BKA``
processes (one consumer group over the inbox, one SQLite store). Router ``a`` is
SIGKILLed at a random moment ``kill_rounds`` times: router ``b`` takes its
partitions once the group notices (session timeout), fencing and aborting the
transactions ``a`` left open, and resumes from the committed offsets; ``a`` is
restarted and takes its share back. Nothing may be lost and no handler called twice.

Example (not run here: it needs a 3-node cluster)::

    result = await router_scale_out(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import random
import time

from broker.devtools.chaos import counting
from broker.devtools.chaos.counting import recovery_seconds
from broker.devtools.chaos.harness import RECIPIENT
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts

__all__ = ["router_scale_out"]

#: Seconds a killed router stays down, so the survivor must take its partitions over.
DOWN_S = 12.0


async def router_scale_out(ctx: Context, *, seed: int | None = None) -> ScenarioResult:
    """Run 2 routers and 2 inbox processes; SIGKILL router ``a`` ``kill_rounds`` times."""
    sizes = ctx.sizes
    rng = random.Random(seed)  # noqa: S311 - choosing kill moments, not crypto
    result = ScenarioResult(scenario="router-scale-out")
    started = time.monotonic()
    net = await ctx.network("scale")
    victim = net.spawn_router("router-a")
    survivor = net.spawn_router("router-b")
    net.spawn_inbox(RECIPIENT)
    net.spawn_inbox(RECIPIENT, instance=1)
    try:
        stop = asyncio.Event()
        rate = sizes.stream_rate
        budget = int(rate * (8 + sizes.kill_rounds * (sizes.kill_stream_s + DOWN_S) + 10))
        stream = asyncio.create_task(
            net.send_stream(net.sealed(budget, to=[RECIPIENT]), rate=rate, stop=stop)
        )
        await asyncio.sleep(8.0)  # both routers joined the group and hold partitions
        kills: list[float] = []
        for _ in range(sizes.kill_rounds):
            await asyncio.sleep(rng.uniform(1.0, sizes.kill_stream_s))
            if stream.done():
                break
            kills.append(await asyncio.to_thread(victim.kill))
            await asyncio.sleep(DOWN_S)  # the survivor alone, after taking the partitions over
            victim.start()
        await asyncio.sleep(3.0)
        stop.set()
        acked = set(await stream)
        expected = {RECIPIENT: acked}
        await net.wait_handled(expected, stall=sizes.stall_s)
        finish_counts(result, net, expected, faults=kills)
        handled = net.handled(RECIPIENT)
        worst = max(
            (t for t in (recovery_seconds(at, net.sent_at, handled) for at in kills) if t),
            default=None,
        )
        calls = net.handler_calls(RECIPIENT)
        per_inbox = {
            name: counting.handler_calls(proc.stdout_path).total()
            for name, proc in net.processes.items()
            if name.startswith(f"inbox-{RECIPIENT}")
        }
        result.notes.append(
            f"{len(acked)} dossiers at {rate:.0f}/s through 2 routers and 2 inbox processes; "
            f"router-a SIGKILLed {victim.kills}x ({DOWN_S:.0f} s down each), router-b "
            f"{survivor.kills}x; handler calls {sum(calls.values())}; calls per inbox process "
            + ", ".join(f"{k} {v}" for k, v in per_inbox.items())
            + (f"; worst recovery {worst:.1f} s" if worst is not None else "")
        )
    finally:
        await net.close()
    result.seconds = time.monotonic() - started
    return result
