"""The demo's last step: one recall, every holder's signed answer, the compliance table.

ES-PN recalls the first dossier it sent; the router carries the order to every holder
(the recipients and the hub, which relays it to every agency a hit on it was released
to), each erases it (store row, at-rest key, the hub's index
entries and release requests) and answers DESTROYED; the owner collects the answers.
Runs in-process after the demo's consumers have stopped (about 10-15 s).

Example::

    await demo_recall(settings, say=print)   # from broker.devtools.demo
"""

from __future__ import annotations

import time
from collections.abc import Callable

from broker import home, topics
from broker.agency import AgencyNode
from broker.agency.control import ComplianceLine, compliance_table, recall
from broker.audit.events import ROUTER_STREAM
from broker.audit.writer import load_audit_log
from broker.config import Settings
from broker.connect import connection_for
from broker.hub import Hub, HubIndex
from broker.router import EnvelopeCheck, Router
from broker.topics import TopicLayout
from broker.trust import load_trust

__all__ = ["demo_recall"]

OWNER = "ES-PN"
#: Idle seconds that end each in-process consumer run.
_IDLE = 1.5
#: Seconds the step waits for every holder's answer before it fails.
_TIMEOUT = 180.0
#: Compliance statuses that mean "not answered yet".
_WAITING = frozenset({"PENDING", "OVERDUE"})


async def _route(settings: Settings) -> None:
    conn = connection_for(settings, topics.ROUTER)
    router = Router(
        conn=conn,
        layout=TopicLayout(prefix=settings.topic_prefix),
        check=EnvelopeCheck(trust=load_trust(settings), max_transit=settings.max_transit),
        audit=load_audit_log(settings, stream=ROUTER_STREAM, conn=conn),
    )
    await router.run(until_idle=_IDLE)


async def _holder(settings: Settings, agency: str) -> None:
    node = AgencyNode.load(settings, agency=agency, conn=connection_for(settings, agency))
    if agency != topics.HUB:
        async with node:
            await node.consume(until_idle=_IDLE)
        return
    index = HubIndex.open(home.hub_db(settings, agency))
    try:
        hub = Hub(node=node, index=index)
        async with node:
            await node.consume(handler=hub.on_delivery, until_idle=_IDLE)
    finally:
        index.close()


async def demo_recall(
    settings: Settings, *, say: Callable[[str], None] = print
) -> list[ComplianceLine]:
    """Recall ES-PN's first dossier everywhere; print and return its compliance table."""
    started = time.monotonic()
    owner = AgencyNode.load(settings, agency=OWNER, conn=connection_for(settings, OWNER))
    async with owner:
        first = next(i for i in owner.store.sent() if i.kind == "DOSSIER")
        order = await recall(owner, first.envelope_id, reason="demo: withdrawn by the source")
    say(f"   {OWNER} recalls {first.envelope_id} from {', '.join(order.holders)}")
    await _route(settings)
    # Short idle runs keep the step quick; on a loaded machine one run may end before a holder's
    # order or answer arrived, so the step repeats until every holder answered (or times out).
    deadline = time.monotonic() + _TIMEOUT
    todo: list[str] = list(order.holders)
    while True:  # the holders, then the agencies the hub relayed the order to
        for agency in todo:
            await _holder(settings, agency)
        await _route(settings)
        owner = AgencyNode.load(settings, agency=OWNER, conn=connection_for(settings, OWNER))
        async with owner:
            await owner.consume(until_idle=_IDLE)
            lines = [
                ln for ln in compliance_table(owner.control.ledger) if ln.order_id == order.order_id
            ]
        todo = sorted({ln.holder for ln in lines if ln.status in _WAITING})
        if not todo:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: no answer to the recall from {', '.join(todo)} "
                               f"within {_TIMEOUT:.0f} s")  # fmt: skip
    for line in lines:
        via = f" (via {line.via})" if line.via else ""
        say(f"   {line.envelope_id[:12]}… {line.action:7} {line.holder:8} {line.status}{via}")
    say(f"   recall and compliance table in {time.monotonic() - started:.1f} s")
    return lines
