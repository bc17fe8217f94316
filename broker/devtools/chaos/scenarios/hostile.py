"""Hostile input: random bytes, mutations, replays, misaddressed, expired, revoked, downgraded.

First a warm-up of valid dossiers is delivered (the replay pool). Then hostile
records (:mod:`broker.devtools.chaos.hostile`) go alternately into DE-BKA's inbox and an
outbox, with one valid dossier after every ``valid_every`` hostile ones. Every
valid one must be delivered once, every hostile one must be in a rejected topic
with the reason its kind calls for, no process may crash, and no hostile record
may reach a handler.

Example (not run here: it needs a 3-node cluster)::

    result = await hostile_input(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from broker.audit.auditor import replay_and_verify
from broker.audit.events import AuditKind
from broker.devtools.chaos.harness import RECIPIENT, ChaosNetwork
from broker.devtools.chaos.hostile import (
    HostileForge,
    HostileRecord,
    RejectionTally,
    tally_rejections,
)
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts

__all__ = ["count_rejections", "hostile_input"]

_WARMUP = 20


async def count_rejections(
    net: ChaosNetwork, injected: list[HostileRecord], *, stall: float
) -> RejectionTally:
    """Read the rejected topics until every hostile record is accounted for (or it stalls)."""
    reader = net.dead_letter_reader()
    try:
        last, since = -1, time.monotonic()
        while True:
            letters = await reader.drain()
            tally = tally_rejections(letters, injected)
            if tally.not_rejected == 0:
                return tally
            if len(letters) != last:
                last, since = len(letters), time.monotonic()
            elif time.monotonic() - since > stall:
                return tally
            await asyncio.sleep(1.0)
    finally:
        await reader.close()


async def count_audited_rejections(net: ChaosNetwork) -> int:
    """Replay the network's audit log; count the records it says were rejected.

    Every dead letter has a ``REJECT`` event naming the refused record
    (``topic/partition/offset``); a consumer restarted mid-record may audit one
    twice, so records are counted, not events.
    """
    verifier = await replay_and_verify(net.settings, conn=net.conn, keep_events=True)
    return len({ev.ref for ev, _ in verifier.events if ev.kind is AuditKind.REJECT and ev.ref})


async def hostile_input(ctx: Context) -> ScenarioResult:
    """Inject ``hostile`` records between valid ones; check every refusal and its reason."""
    sizes = ctx.sizes
    result = ScenarioResult(scenario="hostile-input")
    started = time.monotonic()
    net = await ctx.network("hostile")
    net.spawn_router()
    inbox = net.spawn_inbox()
    try:
        warm = [net.seal_dossier(to=[RECIPIENT]) for _ in range(_WARMUP)]
        await net.send_stream(iter(warm), rate=1000.0)
        await net.wait_handled({RECIPIENT: {i for i, _ in warm}}, stall=sizes.stall_s)
        forge = HostileForge(net=net, replay_pool=[data for _, data in warm])
        injected: list[HostileRecord] = []

        def mixed() -> Iterator[tuple[str | None, bytes]]:
            for i, record in enumerate(forge.records(sizes.hostile)):
                injected.append(record)
                yield None, record.value
                if (i + 1) % sizes.valid_every == 0:
                    yield net.seal_dossier(to=[RECIPIENT])

        # Hostile records go to several topics: send them one by one through inject().
        valid_sent = 0
        pending: list[asyncio.Future[object]] = []
        for envelope_id, value in mixed():
            if envelope_id is None:
                pending.append(await net.inject(injected[-1].topic, value))
            else:
                net.sent_at[envelope_id] = time.time()
                pending.append(await net.inject(net.layout.outbox("ES-PN"), value))
                valid_sent += 1
            if len(pending) >= 1000:
                await net.settle(pending)  # also lets the supervisor look at the processes
        await net.settle(pending)
        ctx.say(f"   hostile-input: {len(injected)} hostile and {valid_sent} valid records sent")
        await net.wait_handled({RECIPIENT: set(net.sent_at)}, stall=sizes.stall_s)
        tally = await count_rejections(net, injected, stall=sizes.stall_s)
        finish_counts(result, net, {RECIPIENT: set(net.sent_at)})
        result.hostile = tally.injected
        result.rejected_ok = tally.rejected_ok
        result.rejected_wrong_reason = tally.wrong_reason
        result.not_rejected = tally.not_rejected
        result.reasons = tally.by_kind
        # A replay that reached the handler shows as a second handler call for its id.
        calls = net.handler_calls()
        replayed = sum(calls[i] - 1 for i, _ in warm if calls[i] > 1)
        result.hostile_accepted += replayed
        if tally.unexpected_letters:
            result.notes.append(f"{tally.unexpected_letters} dead letters for non-hostile records")
        result.notes.append(
            f"{valid_sent} valid dossiers interleaved (1 per {sizes.valid_every} hostile) "
            f"after {_WARMUP} warm-up; inbox consumer kills: {inbox.kills}"
        )
        await net.close()  # the router and consumer publish the rest of their audit streams
        letters = tally.rejected_ok + tally.wrong_reason + tally.unexpected_letters
        result.audited_rejections = await count_audited_rejections(net)
        result.notes.append(
            f"audit log: {result.audited_rejections} rejected records for {letters} dead letters"
        )
        result.dead_letters = letters
    finally:
        await net.close()
    result.seconds = time.monotonic() - started
    return result
