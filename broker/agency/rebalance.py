"""Several inbox processes of one agency: a rebalance waits for the batch in flight.

When the consumer group moves a partition to another process, that process reads it
from the last committed offset. Were the old owner still handling records of it, both
would hand the same records to their handlers at once (the replay check refuses the
second *store*, not the second handler call). :class:`BatchFence` is the inbox
consumer's rebalance listener: a revocation waits until the batch being handled is
settled and committed (:attr:`BatchFence.lock`), and :attr:`BatchFence.epoch` counts
revocations of held partitions, so records fetched before one are dropped unhandled
(after such a rebalance the consumer re-reads every partition from its committed offset).

Example::

    >>> import asyncio
    >>> fence = BatchFence()
    >>> asyncio.run(fence.on_partitions_revoked(set())); fence.epoch
    0
    >>> asyncio.run(fence.on_partitions_revoked({("fed.inbox.DE-BKA", 0)})); fence.epoch
    1
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRebalanceListener

__all__ = ["BatchFence"]


class BatchFence(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hold a rebalance until the batch in flight is committed (see the module docstring)."""

    def __init__(self) -> None:
        #: Held while one fetched batch is handled, settled and committed.
        self.lock = asyncio.Lock()
        #: Revocations so far: a batch fetched under an older epoch is not handled.
        self.epoch = 0

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.lock:
            if revoked:  # the first join revokes nothing: positions are not reset then
                self.epoch += 1

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None
