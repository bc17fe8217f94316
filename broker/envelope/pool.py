"""Seal and open on more than one core: a pool of forked worker processes.

The ``cryptography`` HPKE and signature calls hold the GIL, so threads do not
help; processes do. Workers are *forked* from the agency node with its identity
and trust store as initializer arguments, which under ``fork`` are inherited in
memory and never pickled or written anywhere: the private keys stay inside the
agency's own process tree.

* :meth:`EnvelopePool.seal`: each worker seals a sub-batch under its own Merkle
  batch signature (:func:`broker.envelope.seal_batch`), so every envelope still
  gets its fresh content key, per-recipient key wraps (one HPKE encapsulation per
  recipient per sub-batch) and a sender signature.
* :meth:`EnvelopePool.open`: each worker runs the full :meth:`Verifier.open` (every
  check, in the same order) on a slice of a fetched batch and returns, per record
  and in order, the opened envelope or the error it raised, rebuilt in the caller
  with its class, message and diagnostics, so dead-lettering is unchanged.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> from broker.envelope import Verifier
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> codes = {"handling": ["H0"], "h3_restrictions": None, "tlp": "AMBER", "pap": "GREEN",
    ...          "classification": "RESTRICTED", "evaluation": {"source": "B", "information": "I2"},
    ...          "legal_basis": "test", "purpose": "test", "retention_review": fed.now.date()}
    >>> reqs = [SealRequest(payload=b"\\xc3\\x01" + bytes(8) + b"hi", kind="DOSSIER", codes=codes,
    ...                     recipients=["DE-BKA"], sequence=i) for i in (1, 2, 3)]
    >>> with EnvelopePool(identity=fed.identity("ES-PN"), trust=fed.trust, workers=2) as pool:
    ...     parts = [pool.seal_now(part, suite="classic") for part in pool.split(reqs)]
    >>> [len(p) for p in parts]
    [2, 1]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from broker.envelope.opened import OpenedEnvelope
from broker.envelope.seal import SealRequest, seal_batch
from broker.envelope.verify import DEFAULT_KEY_GRACE, Verifier
from broker.errors import ConfigError, Error
from broker.trust.keys import AgencyIdentity
from broker.trust.registry import TrustStore

__all__ = ["EnvelopePool"]

_T = TypeVar("_T")
_worker: tuple[AgencyIdentity, TrustStore, Verifier] | None = None
# An error crossing the process boundary: its class, message and diagnostics detail.
_Failure = tuple[type[Error], str, str | None]


def _init(identity: AgencyIdentity, trust: TrustStore, key_grace: dt.timedelta) -> None:
    global _worker  # one identity per worker process, set once
    # One long-lived Verifier per worker, so its batch-signature cache pays off.
    # Sender keys judged at receive time too, as the inbox does (a retired key cannot back-date).
    _worker = (identity, trust, Verifier(trust=trust, key_grace=key_grace))


def _state() -> tuple[AgencyIdentity, TrustStore, Verifier]:
    if _worker is None:
        raise ConfigError("envelope worker used before it was initialised")
    return _worker


def _seal(requests: Sequence[SealRequest], suite: str) -> list[bytes]:
    identity, trust, _ = _state()
    return seal_batch(requests, sender=identity, trust=trust, suite=suite)


def _open(values: Sequence[bytes]) -> list[OpenedEnvelope | _Failure]:
    identity, _, verifier = _state()
    out: list[OpenedEnvelope | _Failure] = []
    for value in values:
        try:
            out.append(verifier.open(value, identity=identity))
        except Error as exc:
            out.append((type(exc), exc.message, exc.detail))
    return out


class EnvelopePool:
    """Forked worker processes that seal and open envelopes for one agency."""

    def __init__(
        self,
        *,
        identity: AgencyIdentity,
        trust: TrustStore,
        workers: int,
        key_grace: dt.timedelta = DEFAULT_KEY_GRACE,
    ) -> None:
        if workers < 1:
            raise ConfigError("an envelope pool needs at least one worker")
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init,
            initargs=(identity, trust, key_grace),
        )

    def split(self, items: Sequence[_T]) -> list[Sequence[_T]]:
        """Split ``items`` into at most ``workers`` contiguous, nearly equal parts."""
        n = len(items)
        size = -(-n // self.workers) if n else 1
        return [items[i : i + size] for i in range(0, n, size)]

    async def seal(self, requests: Sequence[SealRequest], *, suite: str) -> list[list[bytes]]:
        """Seal ``requests`` across the workers; return one sealed batch per part, in order."""
        loop = asyncio.get_running_loop()
        return list(
            await asyncio.gather(
                *(
                    loop.run_in_executor(self._pool, _seal, part, suite)
                    for part in self.split(requests)
                )
            )
        )

    def seal_now(self, requests: Sequence[SealRequest], *, suite: str) -> list[bytes]:
        """Seal one batch in a worker and wait for it (synchronous callers)."""
        return self._pool.submit(_seal, requests, suite).result()

    async def open(self, values: Sequence[bytes]) -> list[OpenedEnvelope | Error]:
        """Open every value across the workers; return, in order, each result or its error."""
        loop = asyncio.get_running_loop()
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _open, part) for part in self.split(values))
        )
        results: list[OpenedEnvelope | Error] = []
        for part in parts:
            for item in part:
                if isinstance(item, OpenedEnvelope):
                    results.append(item)
                else:
                    cls, message, detail = item
                    results.append(cls(message, detail=detail))
        return results

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> EnvelopePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
