"""Retry with capped exponential backoff while Kafka is away (one policy, from tenacity).

The node's offset commits, the router's client start-up and the chaos harness's
publisher all retry the same way: a retriable :class:`~broker.errors.TransportError`
is retried after ``base * 2**n`` seconds (at most ``cap``), up to ``attempts``
tries, and the last error is re-raised unchanged. Anything else is raised at once.

Example::

    >>> import asyncio
    >>> from broker.errors import TransportError
    >>> calls = []
    >>> async def flaky() -> str:
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise TransportError("broker away")
    ...     return "done"
    >>> asyncio.run(retry_transport(flaky, what="example", attempts=5, base=0.001, cap=0.002))
    'done'
    >>> len(calls)
    3
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from broker.errors import TransportError

__all__ = ["retry_transport"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _retriable(exc: BaseException) -> bool:
    return isinstance(exc, TransportError) and exc.retriable


async def retry_transport(
    operation: Callable[[], Awaitable[_T]],
    *,
    what: str,
    attempts: int,
    base: float,
    cap: float,
    on_retry: Callable[[TransportError], None] | None = None,
) -> _T:
    """Run ``operation``, retrying retriable transport errors with capped backoff."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, TransportError):
            log.warning("%s failed, retrying: %s", what, exc.diagnostics())
            if on_retry is not None:
                on_retry(exc)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=base, max=cap),
        retry=retry_if_exception(_retriable),
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(operation)
