"""Seal on more than one core: a pool of forked worker processes.

The ``cryptography`` HPKE and signature calls hold the GIL, so threads do not
help; processes do. Workers are *forked* from the agency node with the sender's
identity and trust store as initializer arguments, which under ``fork`` are
inherited in memory and never pickled or written anywhere: the private keys stay
inside the agency's own process tree. Each worker seals a sub-batch under its
own Merkle batch signature (:func:`broker.envelope.seal_batch`), so every
envelope still gets its fresh content key, per-recipient HPKE wraps and a
signature by the sender.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> from broker.envelope import Verifier
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> codes = {"handling": ["H0"], "h3_restrictions": None, "tlp": "AMBER", "pap": "GREEN",
    ...          "classification": "RESTRICTED", "evaluation": {"source": "B", "information": "I2"},
    ...          "legal_basis": "test", "purpose": "test", "retention_review": fed.now.date()}
    >>> reqs = [SealRequest(payload=b"\\xc3\\x01" + bytes(8) + b"hi", kind="DOSSIER", codes=codes,
    ...                     recipients=["DE-BKA"], sequence=i) for i in (1, 2, 3)]
    >>> with SealPool(identity=fed.identity("ES-PN"), trust=fed.trust, workers=2) as pool:
    ...     parts = [pool.seal_now(part, suite="classic") for part in pool.split(reqs)]
    >>> [len(p) for p in parts]
    [2, 1]
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from broker.envelope.seal import SealRequest, seal_batch
from broker.errors import ConfigError
from broker.trust.keys import AgencyIdentity
from broker.trust.registry import TrustStore

__all__ = ["SealPool"]

_worker: tuple[AgencyIdentity, TrustStore] | None = None


def _init(identity: AgencyIdentity, trust: TrustStore) -> None:
    global _worker  # one identity per worker process, set once
    _worker = (identity, trust)


def _seal(requests: Sequence[SealRequest], suite: str) -> list[bytes]:
    if _worker is None:
        raise ConfigError("seal worker used before it was initialised")
    identity, trust = _worker
    return seal_batch(requests, sender=identity, trust=trust, suite=suite)


class SealPool:
    """Forked worker processes that seal batches for one sender."""

    def __init__(self, *, identity: AgencyIdentity, trust: TrustStore, workers: int) -> None:
        if workers < 1:
            raise ConfigError("a seal pool needs at least one worker")
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init,
            initargs=(identity, trust),
        )

    def split(self, requests: Sequence[SealRequest]) -> list[Sequence[SealRequest]]:
        """Split ``requests`` into at most ``workers`` contiguous, nearly equal parts."""
        n = len(requests)
        size = -(-n // self.workers) if n else 1
        return [requests[i : i + size] for i in range(0, n, size)]

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

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> SealPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
