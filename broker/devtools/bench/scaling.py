"""How sealing cost grows with recipients and with size, without Kafka in the way.

The issue's fifth target: cost per envelope grows linearly with recipients only
in the key wraps, and not at all in the content encryption. Kafka figures are
too noisy for a difference of differences, so this times :func:`seal_batch`
itself (one thread, batches of 32, best of several rounds) at 1 KiB and 64 KiB
for 1 and 10 recipients, in CPU time of the sealing thread (``time.thread_time``):
cost, not waiting for a core on a shared machine. With ``t(size, n)`` microseconds per envelope:

* ``wrap_us_per_recipient`` at each size: ``(t(size, 10) - t(size, 1)) / 9``;
* ``content_us_per_kib`` at each recipient count: ``(t(64K, n) - t(1K, n)) / 63``;
* ``interaction_us``: ``t(64K,10) - t(64K,1) - t(1K,10) + t(1K,1)`` — zero when the
  content is encrypted once whatever the number of recipients, about
  ``9 x`` the cost of encrypting 63 KiB if it were encrypted per recipient.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> us = seal_us(fed, size=1024, recipients=["DE-BKA"], suite="classic", rounds=1)
    >>> us > 0
    True
"""

from __future__ import annotations

import time
from typing import Any

from broker.devtools.bench.workload import RECIPIENTS, SENDER, dossier
from broker.envelope import SealRequest, seal_batch
from broker.trust.testing import UnsafeTestFederation

__all__ = ["seal_scaling", "seal_us"]

_BATCH = 32
_SMALL, _LARGE = 1024, 65536


def seal_us(
    fed: UnsafeTestFederation, *, size: int, recipients: list[str], suite: str, rounds: int
) -> float:
    """Return the best-of-``rounds`` CPU microseconds per envelope of a 32-envelope seal_batch."""
    message = dossier(size)
    payload, codes = message.to_bytes(), message.codes.to_avro()
    requests = [
        SealRequest(payload=payload, kind="DOSSIER", codes=codes, recipients=recipients, sequence=i)
        for i in range(1, _BATCH + 1)
    ]
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        seal_batch(requests, sender=fed.identity(SENDER), trust=fed.trust, suite=suite)
        best = min(best, (time.thread_time() - start) / _BATCH * 1e6)
    return best


def seal_scaling(*, rounds: int = 7) -> dict[str, Any]:
    """Return per-suite wrap and content slopes, their interaction, and the verdict."""
    fed = UnsafeTestFederation.create(agencies=[SENDER, *RECIPIENTS])
    one, ten = RECIPIENTS[:1], RECIPIENTS[:10]
    out: dict[str, Any] = {}
    for suite in ("classic", "pq-hybrid"):
        t = {
            (size, len(to)): seal_us(fed, size=size, recipients=to, suite=suite, rounds=rounds)
            for size in (_SMALL, _LARGE)
            for to in (one, ten)
        }
        wraps = t[_SMALL, 10] - t[_SMALL, 1]
        interaction = t[_LARGE, 10] - t[_LARGE, 1] - wraps
        out[suite] = {
            "seal_us": {f"{size}B_{n}r": round(v, 1) for (size, n), v in t.items()},
            "wrap_us_per_recipient_1KiB": wraps / 9,
            "wrap_us_per_recipient_64KiB": (t[_LARGE, 10] - t[_LARGE, 1]) / 9,
            "content_us_per_kib_1r": (t[_LARGE, 1] - t[_SMALL, 1]) / 63,
            "content_us_per_kib_10r": (t[_LARGE, 10] - t[_SMALL, 10]) / 63,
            "interaction_us": interaction,
            # Met when the recipients' extra cost does not depend on size (within 25% of
            # the nine extra wraps: the timing noise of a shared machine).
            "met": abs(interaction) <= 0.25 * wraps,
        }
    return out
