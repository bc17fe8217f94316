"""A running federation for request tests: router and every agency's inbox, as `broker inbox` runs.

:class:`Running` starts the router and, for each agency, :func:`broker.requests.serve`
(the inbox with the request workflow and its deadline clock) as background tasks;
tests act through each agency's :class:`RequestDesk` and wait until the expected
thing arrived (:func:`until`), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from broker.agency import AgencyNode
from broker.audit.events import ROUTER_STREAM
from broker.audit.writer import load_audit_log
from broker.config import Settings
from broker.requests import RequestDesk, serve
from broker.router import EnvelopeCheck, Router
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_trust

T = TypeVar("T")
#: Generous: the machine is shared; a wait ends as soon as the thing is there.
TIMEOUT = 120.0


async def until(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    """Return ``probe()`` once it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Running:
    """The router and one serving desk per agency."""

    settings: Settings
    conn: KafkaConnection
    layout: TopicLayout
    desks: dict[str, RequestDesk] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[object]] = field(default_factory=list)

    def __getitem__(self, agency: str) -> RequestDesk:
        return self.desks[agency]


@contextlib.asynccontextmanager
async def running(
    settings: Settings, conn: KafkaConnection, agencies: list[str]
) -> AsyncIterator[Running]:
    """Start the router and every agency's serving inbox; stop them all on exit."""
    layout = TopicLayout(prefix=settings.topic_prefix)
    run = Running(settings=settings, conn=conn, layout=layout)
    router = Router(
        conn=conn,
        layout=layout,
        check=EnvelopeCheck(trust=load_trust(settings)),
        transactional_id=f"{layout.router_group}.requests",
        audit=load_audit_log(settings, stream=ROUTER_STREAM, conn=conn),
    )
    run.tasks.append(asyncio.create_task(router.run(stop=run.stop)))
    nodes = []
    try:
        for agency in agencies:
            node = AgencyNode.load(settings, agency=agency, conn=conn)
            await node.start()
            nodes.append(node)
            desk = RequestDesk.load(settings, node=node)
            run.desks[agency] = desk
            run.tasks.append(
                asyncio.create_task(
                    serve(desk, stop=run.stop, check_every=settings.request_check_s)
                )
            )
        yield run
    finally:
        run.stop.set()
        results = await asyncio.gather(*run.tasks, return_exceptions=True)
        for desk in run.desks.values():
            desk.close()
        for node in nodes:
            await node.close()
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
