"""What an analyst does from the console, through the agency node like the CLI.

One :class:`~broker.agency.AgencyNode` per console, loaded and started on first use
with the connection the command line resolved: a grant is the same signed
``ReleaseGrant`` and the same ``RELEASE_GRANT`` audit event as ``broker hub grant``
(:func:`broker.hub.grant.grant_release`); with ``--follow`` the console also consumes
the agency's inbox like ``broker inbox --follow`` (one consumer group with any other
inbox process of the agency), so new dossiers appear as they arrive.

Deny is the owner's answer "release to nobody": a signed ``ReleaseGrant`` naming no
agency (a subset of those asked, as every grant must be). The hub marks the request
answered and reveals nothing.

Example::

    actions = AgencyActions(settings, agency="ES-PN", connect=lambda: conn)
    await actions.grant("9f1c...", ["DE-BKA"])
    await actions.close()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from broker.agency import AgencyNode
from broker.agency.results import ConsumeStats
from broker.config import Settings
from broker.errors import ConfigError
from broker.hub.grant import grant_release
from broker.topics import HUB
from broker.transport import KafkaConnection

__all__ = ["AgencyActions"]

log = logging.getLogger(__name__)


class AgencyActions:
    """The console's agency node: grants, denials and (optionally) the live inbox."""

    def __init__(
        self,
        settings: Settings,
        *,
        agency: str,
        connect: Callable[[], KafkaConnection] | None,
        hub: str = HUB,
    ) -> None:
        self.settings = settings
        self.agency = agency
        self.hub = hub
        self._connect = connect
        self._node: AgencyNode | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._following: asyncio.Task[ConsumeStats] | None = None
        #: Decisions taken from this console: request id -> "granted to ..." / "denied".
        self.decisions: dict[str, str] = {}

    @property
    def connected(self) -> bool:
        """Whether actions can reach Kafka (a console without one only reads)."""
        return self._connect is not None

    async def node(self) -> AgencyNode:
        """The started agency node (loaded on first use)."""
        async with self._lock:
            if self._node is None:
                if self._connect is None:
                    raise ConfigError("this console has no Kafka: actions are disabled")
                node = AgencyNode.load(self.settings, agency=self.agency, conn=self._connect())
                await node.start()
                self._node = node
            return self._node

    async def grant(self, request_id: str, release_to: Sequence[str]) -> str:
        """Send the hub a signed ReleaseGrant for ``release_to``; return its envelope id."""
        node = await self.node()
        result = await grant_release(
            node, request_id=request_id, release_to=list(release_to), hub=self.hub
        )
        targets = sorted(set(release_to))
        self.decisions[request_id] = (
            f"granted to {', '.join(targets)}" if targets else "denied (released to nobody)"
        )
        return result.envelope_id

    async def follow(self) -> None:
        """Start consuming the agency's inbox in the background (until :meth:`close`)."""
        node = await self.node()
        self._following = asyncio.create_task(node.consume(stop=self._stop))
        self._following.add_done_callback(_report_stop)

    async def close(self) -> None:
        """Stop following, then close the node (its audit stream is published)."""
        self._stop.set()
        if self._following is not None:
            (outcome,) = await asyncio.gather(self._following, return_exceptions=True)
            if isinstance(outcome, BaseException):
                log.error("the console's inbox consumer stopped: %r", outcome)
        if self._node is not None:
            await self._node.close()
            self._node = None


def _report_stop(task: asyncio.Task[object]) -> None:
    """Log at once (with its traceback) why the background inbox consumer stopped early."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the console's inbox consumer stopped", exc_info=task.exception())
