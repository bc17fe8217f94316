"""Hostile part streams: streamed dossiers broken every way the format must detect.

A valid streamed dossier is published first (it must be delivered once); then each
hostile stream of :func:`broker.devtools.chaos.parts.hostile_streams` (missing,
duplicated, reordered, truncated, substituted, foreign part) is produced to ES-PN's
outbox under its envelope id, each followed by a valid streamed dossier. Every valid
one must be delivered exactly once, every hostile one dead-lettered with the reason its
kind calls for (matched by the SHA-256 of the record that proves it) and never handed
to the handler, every dead letter audited, and no process may crash. The
duplicated-part stream is an intact dossier plus one extra part record: the extra
record is dead-lettered (``duplicate-part``) and the dossier delivered once.

Example (not run here: it needs a cluster)::

    result = await hostile_parts(Context(cluster=cluster, workdir=tmp, sizes=Sizes.quick()))
"""

from __future__ import annotations

import time

from broker.devtools.chaos.harness import RECIPIENT, ChaosNetwork
from broker.devtools.chaos.hostile import HostileRecord
from broker.devtools.chaos.parts import Stream, build_stream, hostile_streams
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios.base import Context, finish_counts
from broker.devtools.chaos.scenarios.hostile import count_audited_rejections, count_rejections

__all__ = ["hostile_parts"]


async def _produce(net: ChaosNetwork, records: list[bytes], key: str) -> None:
    producer = await net.producer()
    topic = net.layout.outbox("ES-PN")
    for value in records:
        await (await producer.send(topic, value=value, key=key.encode()))


async def hostile_parts(ctx: Context) -> ScenarioResult:
    """Inject hostile part streams between valid streamed dossiers; check each refusal."""
    result = ScenarioResult(scenario="hostile-parts")
    started = time.monotonic()
    net = await ctx.network("parts")
    net.spawn_router()
    net.spawn_inbox()
    seq = iter(range(1000, 10**6))

    async def valid() -> None:
        s: Stream = build_stream(
            net.sender, net.trust, to=[RECIPIENT], n_refs=4000, seed=0, sequence=next(seq)
        )
        net.sent_at[s.envelope_id] = time.time()
        await _produce(net, s.records(), s.envelope_id)

    try:
        injected: list[HostileRecord] = []
        await valid()
        for hostile in hostile_streams(net.sender, net.trust, to=[RECIPIENT]):
            if hostile.delivered:
                net.sent_at[hostile.key] = time.time()
            await _produce(net, hostile.records, hostile.key)
            injected.append(
                HostileRecord(
                    kind=hostile.kind,
                    topic=net.layout.outbox("ES-PN"),
                    value=hostile.rejected,
                    expected=hostile.expected,
                )
            )
            await valid()
        ctx.say(f"   hostile-parts: {len(injected)} hostile streams, {len(net.sent_at)} valid")
        await net.wait_handled({RECIPIENT: set(net.sent_at)}, stall=ctx.sizes.stall_s)
        tally = await count_rejections(net, injected, stall=ctx.sizes.stall_s)
        finish_counts(result, net, {RECIPIENT: set(net.sent_at)})
        result.hostile = tally.injected
        result.rejected_ok = tally.rejected_ok
        result.rejected_wrong_reason = tally.wrong_reason
        result.not_rejected = tally.not_rejected
        result.reasons = tally.by_kind
        letters = tally.rejected_ok + tally.wrong_reason + tally.unexpected_letters
        if tally.unexpected_letters:
            result.notes.append(
                f"{tally.unexpected_letters} dead letters for non-hostile records: "
                f"{tally.unexpected_reasons}"
            )
        await net.close()  # the router and consumer publish the rest of their audit streams
        result.audited_rejections = await count_audited_rejections(net)
        result.notes.append(
            f"audit log: {result.audited_rejections} rejected records for {letters} dead letters "
            f"of {tally.records} records"
        )
        result.dead_letters = tally.records  # records, as the audit log counts them
    finally:
        await net.close()
    result.seconds = time.monotonic() - started
    return result
