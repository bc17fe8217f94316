"""Sustained load: dossiers offered at ``load_rate`` per second for ``load_s`` seconds.

The envelopes are sealed before the clock starts so the offered rate is the
producer's, not the sealer's. Every second the resident set size of the
router, the inbox consumer and each Kafka JVM is sampled from
``/proc/<pid>/status``; the peak per process is reported, and the run waits
until the consumer has drained everything before counting.

Example (not run here: it needs a 3-node cluster)::

    result = await sustained_load(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import time

from broker.devtools.chaos.harness import RECIPIENT
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts
from broker.devtools.chaos.supervise import RssSampler

__all__ = ["sustained_load"]


async def sustained_load(ctx: Context) -> ScenarioResult:
    """Offer ``load_rate`` dossiers/s for ``load_s`` s; report throughput and peak RSS."""
    sizes = ctx.sizes
    result = ScenarioResult(scenario="sustained-load")
    started = time.monotonic()
    net = await ctx.network("load")
    net.spawn_router()
    net.spawn_inbox()
    stop = asyncio.Event()
    sampler = RssSampler(sources={**net.python_pids(), **net.jvm_pids()})
    sampling = asyncio.create_task(sampler.run(stop))
    try:
        count = int(sizes.load_rate * sizes.load_s)
        envelopes = [(i, d) for i, d in (net.seal_dossier(to=[RECIPIENT]) for _ in range(count))]
        ctx.say(f"   sustained-load: {count} dossiers sealed; offering {sizes.load_rate:.0f}/s")
        t0 = time.time()
        acked = await net.send_stream(iter(envelopes), rate=sizes.load_rate)
        offered_s = time.time() - t0
        del envelopes
        done_at = await net.wait_handled({RECIPIENT: set(acked)}, stall=sizes.stall_s)
        finish_counts(result, net, {RECIPIENT: set(net.sent_at)})
        drained_s = done_at - t0
        result.notes.append(
            f"offered {count} in {offered_s:.1f} s ({count / offered_s:.0f}/s); all handled "
            f"{drained_s:.1f} s after the first send ({result.delivered / drained_s:.0f}/s "
            f"end to end); {sampler.samples} RSS samples"
        )
    finally:
        stop.set()
        await sampling
        await net.close()
    result.peak_rss_mib = {k: round(v, 1) for k, v in sampler.peaks.items()}
    result.seconds = time.monotonic() - started
    return result
