"""The demo's request step: national units ask, answer, refuse — one answers late.

Runs the router and four national inboxes (as ``broker inbox`` does, with the deadline
clock) in this process, under a **compressed clock** (the demo only: urgent-direct =
2 s), and sends four requests: one urgent-direct answered at once, one standard refused
on an Art. 6 ground, one urgent-indirect answered partially then finally, and one
urgent-direct left until its overdue notice reached the requester, then answered late.
The summary is the deadline table: each request's outcome against its limit, and the
auditor's figures per agency, computed from the audit events.

Example::

    outcome = await run_requests(settings, say=print)
    print("\\n".join(outcome.summary()))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker import home
from broker.agency import AgencyNode
from broker.audit.deadlines import deadline_statistics
from broker.audit.events import ROUTER_STREAM, AuditEvent
from broker.audit.journal import AuditJournal
from broker.audit.writer import load_audit_log
from broker.config import Settings
from broker.connect import connection_for
from broker.requests import RefusalGround, RequestDesk, Urgency, serve
from broker.requests.examples import example_reply, example_request
from broker.router import EnvelopeCheck, Router
from broker.topics import ROUTER, TopicLayout
from broker.trust import load_trust

__all__ = ["RequestsDemo", "run_requests"]

#: The demo's compressed clock: urgent-direct 8 h -> 2 s (standard 7 d -> 42 s).
SCALE = 2 / (8 * 3600)
UNITS = ["ES-PN", "DE-BKA", "PT-PJ", "IT-PS"]
#: Generous: a wait ends as soon as the thing happened.
TIMEOUT = 90.0


@dataclass
class RequestsDemo:
    """What the request step did."""

    #: (request id, requester, responder, urgency, outcome, answer seconds, limit seconds)
    rows: list[tuple[str, str, str, str, str, float | None, float]] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    reminders: int = 0
    overdue_notices: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Four requests closed; one refused, one late with its reminder and notices."""
        outcomes = sorted(r[4] for r in self.rows)
        return (
            outcomes == ["answered", "answered", "answered", "refused"]
            and self.reminders == 1
            and self.overdue_notices == 2
        )

    def summary(self) -> list[str]:
        """The deadline table: per request, then the auditor's figures per agency."""
        out = [
            f"   requests (compressed clock x{SCALE:.2e}): {len(self.rows)} in "
            f"{self.seconds:.1f} s; reminders {self.reminders}, overdue notices "
            f"{self.overdue_notices}"
        ]
        for rid, frm, to, urgency, outcome, took, limit in self.rows:
            when = "-" if took is None else f"{took:.1f} s"
            verdict = "" if took is None else (" in time" if took <= limit else " LATE")
            out.append(
                f"     {rid[:12]} {frm:>6} -> {to:<6} {urgency:<15} {outcome:<8} "
                f"{when:>7} of {limit:.0f} s{verdict}"
            )
        for agency, groups in self.stats.items():
            figures = groups["all"]
            share = figures["share_in_time"]
            out.append(
                f"     audit: {agency:<6} {figures['requests']} received, "
                f"{figures['in_time']} in time, {figures['late']} late"
                + (f", {share:.0%} in time" if share is not None else "")
                + (
                    f", median {figures['median_answer_s']:.1f} s"
                    if figures["median_answer_s"] is not None
                    else ""
                )
            )
        return out


async def _until(what: str, probe: Callable[[], object]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: no {what} within {TIMEOUT:.0f} s")
        await asyncio.sleep(0.1)


def _received(desk: RequestDesk, request_id: str) -> bool:
    return any(r.request_id == request_id for r in desk.store.requests(role="received"))


async def run_requests(settings: Settings, *, say: Callable[[str], None] = print) -> RequestsDemo:
    """Run the request step (see the module docstring) against the demo's Kafka."""
    started = time.monotonic()
    settings = settings.model_copy(update={"request_time_scale": SCALE, "request_check_s": 0.2})
    layout = TopicLayout(prefix=settings.topic_prefix)
    say("== requests between national units (Directive 2023/977), compressed clock")
    stop = asyncio.Event()
    conn = connection_for(settings, ROUTER)
    router = Router(
        conn=conn,
        layout=layout,
        check=EnvelopeCheck(trust=load_trust(settings)),
        audit=load_audit_log(settings, stream=ROUTER_STREAM, conn=conn),
    )
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(router.run(stop=stop))]
    nodes: list[AgencyNode] = []
    desks: dict[str, RequestDesk] = {}
    result = RequestsDemo()
    try:
        for unit in UNITS:
            node = AgencyNode.load(settings, agency=unit, conn=connection_for(settings, unit))
            await node.start()
            nodes.append(node)
            desks[unit] = RequestDesk.load(settings, node=node)
            tasks.append(asyncio.create_task(serve(desks[unit], stop=stop, check_every=0.2)))
        es, de, pt, it = (desks[u] for u in UNITS)
        plan = [
            (de, "ES-PN", Urgency.URGENT_DIRECT, "CASE-SYNTH-REQ-1"),
            (pt, "IT-PS", Urgency.STANDARD, "CASE-SYNTH-REQ-2"),
            (es, "PT-PJ", Urgency.URGENT_INDIRECT, "CASE-SYNTH-REQ-3"),
            (it, "DE-BKA", Urgency.URGENT_DIRECT, "CASE-SYNTH-REQ-4"),
        ]
        ids = []
        for n, (desk, to, urgency, case) in enumerate(plan):
            request = example_request(seed=900 + n, case_ref=case, urgency=urgency)
            ids.append((await desk.send(request, to=to)).envelope_id)
        r1, r2, r3, r4 = ids
        await _until("request at ES-PN", lambda: _received(es, r1))
        await es.reply(r1, example_reply(seed=901, case_ref="x"), final=True)
        await _until("request at IT-PS", lambda: _received(it, r2))
        await it.refuse(r2, ground=RefusalGround.NOT_AVAILABLE, note="synthetic: no record")
        await _until("request at PT-PJ", lambda: _received(pt, r3))
        await pt.reply(r3, example_reply(seed=902, case_ref="x"), final=False)
        await pt.reply(r3, example_reply(seed=903, case_ref="x"), final=True)
        say("   4 requests sent; DE-BKA leaves IT-PS's urgent request until it is overdue ...")
        await _until("overdue notice at IT-PS", lambda: it.store.get(r4).overdue)
        await de.reply(r4, example_reply(seed=904, case_ref="x"), final=True)
        await _until(
            "every answer at its requester",
            lambda: all(
                not d.store.get(r).is_open for d, r in zip((de, pt, es, it), ids, strict=True)
            ),
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for desk in desks.values():
            desk.close()
        for node in nodes:
            await node.close()
    events = _journaled(settings, [ROUTER_STREAM, *UNITS])
    result.stats = {a: s for a, s in deadline_statistics(events, scale=SCALE).items() if a in UNITS}
    result.reminders = sum(1 for e in events if e.kind == "DEADLINE" and e.outcome == "reminder")
    result.overdue_notices = sum(
        1 for e in events if e.kind == "DEADLINE" and e.outcome == "overdue"
    )
    result.rows = _rows(events, ids, plan=[(d.agency, to, u) for d, to, u, _ in plan])
    result.seconds = time.monotonic() - started
    return result


def _journaled(settings: Settings, streams: list[str]) -> list[AuditEvent]:
    out = []
    for stream in streams:
        journal = AuditJournal.open(home.audit_journal(settings, stream), stream=stream)
        try:
            out += [AuditEvent.from_bytes(raw) for raw in journal.events()]
        finally:
            journal.close()
    return out


def _rows(
    events: list[AuditEvent], ids: list[str], *, plan: list[tuple[str, str, Urgency]]
) -> list[tuple[str, str, str, str, str, float | None, float]]:
    """Each request's outcome and answer time, from the router's DELIVER and ROUTE events."""
    deliver = {
        (e.envelope_id, e.parties[1]): e.at
        for e in events
        if e.actor == ROUTER and e.kind == "DELIVER"
    }
    route = {e.envelope_id: e.at for e in events if e.actor == ROUTER and e.kind == "ROUTE"}
    final = {
        e.ref: e for e in events if e.kind == "REQUEST" and e.outcome in ("replied", "refused")
    }
    rows = []
    for rid, (frm, to, urgency) in zip(ids, plan, strict=True):
        answer = final.get(rid)
        took = None
        start = deliver.get((rid, to))
        if answer is not None and answer.envelope_id in route and start is not None:
            took = (route[answer.envelope_id] - start).total_seconds()
        outcome = (
            "open" if answer is None else ("refused" if answer.outcome == "refused" else "answered")
        )
        limit = urgency.limit(scale=SCALE).total_seconds()
        rows.append((rid, frm, to, urgency.cli, outcome, took, limit))
    return rows
