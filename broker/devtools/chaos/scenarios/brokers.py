"""Broker faults on the 3-node cluster: one broker SIGKILLed mid-stream, or SIGSTOPped.

Topics have replication factor 3 and ``min.insync.replicas`` 2
(:func:`broker.transport.ensure_topics` on three brokers), producers use
``acks=all`` with idempotence, the router commits in transactions and consumers
read ``read_committed``: losing one broker of three must lose and duplicate
nothing.

Example (not run here: it needs a 3-node cluster)::

    result = await broker_kill(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import time

from broker.devtools.chaos.harness import RECIPIENT, ChaosNetwork
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts

__all__ = ["broker_kill", "broker_pause"]


async def _start(ctx: Context, name: str) -> ChaosNetwork:
    net = await ctx.network(name)
    net.spawn_router()
    net.spawn_inbox()
    return net


async def broker_kill(ctx: Context) -> ScenarioResult:
    """SIGKILL one of three brokers a third of the way into the stream; restart it later."""
    sizes = ctx.sizes
    result = ScenarioResult(scenario="broker-kill")
    started = time.monotonic()
    net = await _start(ctx, "kill")
    victim = ctx.cluster.nodes[1].node_id
    try:
        count = sizes.broker_kill_dossiers
        third = asyncio.Event()

        def progress(sent: int) -> None:
            if sent >= count // 3:
                third.set()

        stream = asyncio.create_task(
            net.send_stream(
                net.sealed(count, to=[RECIPIENT]), rate=sizes.stream_rate, on_sent=progress
            )
        )
        await _until(third, stream)
        fault_at = time.time()
        await asyncio.to_thread(ctx.cluster.kill_node, victim)
        ctx.say(f"   broker-kill: node {victim} SIGKILLed after {count // 3} dossiers")
        await asyncio.sleep(sizes.broker_down_s)
        ctx.cluster.restart_node(victim)
        await ctx.cluster.wait_ready(ready_timeout=180)
        ctx.say(f"   broker-kill: node {victim} restarted and back in the cluster")
        acked = await stream
        await net.wait_handled({RECIPIENT: set(acked)}, stall=sizes.stall_s)
        finish_counts(result, net, {RECIPIENT: set(net.sent_at)}, faults=[fault_at])
        if len(acked) != count:
            result.notes.append(f"only {len(acked)} of {count} acknowledged by Kafka")
    finally:
        await net.close()
        await _ensure_running(ctx, victim)
    result.seconds = time.monotonic() - started
    return result


async def broker_pause(ctx: Context) -> ScenarioResult:
    """SIGSTOP one of three brokers for ``pause_s`` seconds mid-stream, then SIGCONT it."""
    sizes = ctx.sizes
    result = ScenarioResult(scenario="broker-pause")
    started = time.monotonic()
    net = await _start(ctx, "pause")
    victim = ctx.cluster.nodes[2].node_id
    try:
        lead_in, tail = 3.0, 5.0
        count = int(sizes.stream_rate * (lead_in + sizes.pause_s + tail))
        stream = asyncio.create_task(
            net.send_stream(net.sealed(count, to=[RECIPIENT]), rate=sizes.stream_rate)
        )
        await asyncio.sleep(lead_in)
        fault_at = time.time()
        ctx.cluster.pause_node(victim)
        ctx.say(f"   broker-pause: node {victim} SIGSTOPped for {sizes.pause_s:.0f} s")
        try:
            await asyncio.sleep(sizes.pause_s)
        finally:
            ctx.cluster.resume_node(victim)
        ctx.say(f"   broker-pause: node {victim} resumed")
        acked = await stream
        await net.wait_handled({RECIPIENT: set(acked)}, stall=sizes.stall_s)
        finish_counts(result, net, {RECIPIENT: set(net.sent_at)}, faults=[fault_at])
        if len(acked) != count:
            result.notes.append(f"only {len(acked)} of {count} acknowledged by Kafka")
    finally:
        ctx.cluster.resume_node(victim)
        await net.close()
    result.seconds = time.monotonic() - started
    return result


async def _until(event: asyncio.Event, stream: asyncio.Task[list[str]]) -> None:
    """Wait for ``event`` unless the stream ends first (then surface its error)."""
    waiter = asyncio.create_task(event.wait())
    done, _ = await asyncio.wait({waiter, stream}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        stream.result()


async def _ensure_running(ctx: Context, node_id: int) -> None:
    """Leave the cluster whole for the next scenario, whatever happened."""
    running = ctx.cluster.running_pids()
    if not any(n.node_id == node_id and n.pid in running for n in ctx.cluster.nodes):
        ctx.cluster.restart_node(node_id)
    await ctx.cluster.wait_ready(ready_timeout=180)
