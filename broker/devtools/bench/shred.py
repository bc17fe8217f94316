"""``broker bench shred``: wall time from a recall until no key left opens any Kafka copy.

On a real Kafka (a 1-node local one unless ``bootstrap`` is given), with the real clock:
ES-PN sends DE-BKA a dossier, DE-BKA reads it; ES-PN recalls it, and DE-BKA's epoch ends
as soon as the router has routed the recall (its encryption key is rotated: the best case —
in service the key retires at the end of its epoch, up to one epoch later). Then, in a loop,
the router and DE-BKA's inbox run (DE-BKA answers the recall and drains its inbox) and
:func:`~broker.agency.epochs.shred_retired_keys` is tried, until it destroys the key the
dossier's Kafka copy is wrapped to. That copy, read back from the inbox topic, must then
fail to open with every key DE-BKA still holds (``UnknownKeyError``).

The transit window is shortened (``transit_s``, default 60 s instead of 24 h) so the run
takes about two minutes; the clock skew the shredder allows (30 s) is the production one. The
measured figure checks the derived bound ``epoch + max_transit + skew + consumer lag``.

Example::

    $ broker bench shred --json
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from broker.agency import AgencyNode
from broker.agency.control import recall
from broker.agency.epochs import shred_retired_keys
from broker.audit.replay import read_topic
from broker.audit.rules import CLOCK_SKEW
from broker.config import Settings
from broker.devtools.bench.kafka import bench_kafka
from broker.devtools.bench.workload import BenchError
from broker.envelope import Verifier
from broker.errors import UnknownKeyError
from broker.federation import init_federation, rotate_keys
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_identity, load_trust

__all__ = ["run_shred_bench"]

_OWNER, _HOLDER = "ES-PN", "DE-BKA"
#: Give up (a broken run) after this long waiting for one step.
_PATIENCE_S = 600.0


async def _route(settings: Settings, conn: KafkaConnection) -> int:
    router = Router(
        conn=conn,
        layout=TopicLayout(prefix=settings.topic_prefix),
        check=EnvelopeCheck(trust=load_trust(settings), max_transit=settings.max_transit),
        transactional_id=f"{settings.topic_prefix}.router.bench",
    )
    return (await router.run(until_idle=0.5)).routed


async def _until(what: str, step: Any) -> float:
    """Run ``step`` until it returns true; return when (monotonic)."""
    start = time.monotonic()
    while not await step():
        if time.monotonic() - start > _PATIENCE_S:
            raise BenchError(f"shred bench: {what} never happened", detail=f"{_PATIENCE_S} s")
    return time.monotonic()


async def _measure(settings: Settings) -> dict[str, Any]:
    conn = KafkaConnection(bootstrap=str(settings.kafka_bootstrap), client_id="bench-shred")
    layout = TopicLayout(prefix=settings.topic_prefix)
    init_federation(settings, agencies=[_OWNER, _HOLDER])
    await ensure_topics(conn, layout=layout, agencies=[_OWNER, _HOLDER], partitions=1)
    async with AgencyNode.load(settings, agency=_OWNER, conn=conn) as es:
        sent = await es.publish_dossier(example_dossier(1), to=[_HOLDER])
    holder = AgencyNode.load(settings, agency=_HOLDER, conn=conn)
    (old,) = load_identity(settings, agency=_HOLDER).decryption

    async def delivered() -> bool:
        await _route(settings, conn)
        await holder.consume(until_idle=0.5)
        return any(i.envelope_id == sent.envelope_id for i in holder.store.inbox())

    async with holder:
        await _until("delivery", delivered)
    async with AgencyNode.load(settings, agency=_OWNER, conn=conn) as es:
        start = time.monotonic()
        order = await recall(es, sent.envelope_id, reason="bench: withdrawn by the source")

    async def routed() -> bool:
        return await _route(settings, conn) > 0

    # The epoch ends as soon as the recall is routed (the router refuses an envelope whose
    # recipient key was retired before it routed it: key-expired).
    await _until("routing of the recall", routed)
    rotate_keys(settings, agency=_HOLDER, usages=("ENCRYPT",))
    answered_at = None
    gone: list[str] = []
    holder = AgencyNode.load(settings, agency=_HOLDER, conn=conn)  # the first one is closed

    async def shredded() -> bool:
        nonlocal answered_at
        await _route(settings, conn)
        await holder.consume(until_idle=0.5)
        if answered_at is None and holder.control.ledger.answered(order.order_id):
            answered_at = time.monotonic()
        gone.extend(await shred_retired_keys(settings, agency=_HOLDER, conn=conn))
        return old in gone

    async with holder:
        done = await _until("the shredding of the retired key", shredded)
    records = await read_topic(conn, layout.inbox(_HOLDER))
    copies = [r.value for r in records if sent.envelope_id.encode() in r.value]
    identity = load_identity(settings, agency=_HOLDER)
    for copy in copies:
        try:
            Verifier(trust=load_trust(settings)).open(copy, identity=identity)
        except UnknownKeyError:
            continue
        raise BenchError("shred bench: a Kafka copy still opens after the shredding")
    transit = settings.max_transit.total_seconds()
    return {
        "shred_after_recall_s": round(done - start, 1),
        "recall_applied_after_s": None if answered_at is None else round(answered_at - start, 1),
        "kafka_copies_checked": len(copies),
        "epoch_s": 0.0,
        "max_transit_s": transit,
        "clock_skew_s": CLOCK_SKEW.total_seconds(),
        "derived_bound_s": transit + CLOCK_SKEW.total_seconds(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


async def run_shred_bench(*, bootstrap: str | None, transit_s: float) -> dict[str, Any]:
    """Measure the shredding bound once; return the figures (seconds)."""
    with tempfile.TemporaryDirectory(prefix="bench-shred-") as tmp:
        root = Path(tmp)
        async with bench_kafka(root, bootstrap=bootstrap) as (kafka, _):
            settings = Settings(
                home=root / "home",
                kafka_bootstrap=kafka,
                topic_prefix=f"benchshred{int(time.time())}",
                max_transit_hours=transit_s / 3600,
            )
            return await _measure(settings)
