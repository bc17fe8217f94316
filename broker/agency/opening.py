"""Open a fetched batch before its per-record checks, so the batch's look-ups are batched too.

:meth:`Opener.batch` verifies and decrypts every record of one fetched batch that a crypto
worker has not opened already (a streamed dossier's part is left to the reassembly, in
order); a record that fails keeps its error, which the inbox dead-letters in record order
exactly as before. With every header known up front, the recall tombstones of the whole
batch are one SQLite query (:meth:`broker.agency.recall.ControlDesk.recalled_among`)
instead of one per envelope. Opening first changes no verdict: nothing the inbox does to
one record of a batch (dead letters, receipts, stored parts) is read when opening another.

Example::

    opened = opener.batch(records, [None] * len(records))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker import telemetry
from broker.envelope import OpenedEnvelope, Verifier
from broker.envelope.stream import is_part
from broker.errors import Error
from broker.trust import AgencyIdentity

__all__ = ["Opened", "Opener"]

#: A record opened, the reason it was refused, or None (not opened: a streamed part).
Opened = OpenedEnvelope | Error | None


@dataclass(frozen=True, kw_only=True)
class Opener:
    """Verify and decrypt records for one agency (the inbox keeps one)."""

    verifier: Verifier
    identity: AgencyIdentity
    metrics: telemetry.Metrics

    def one(self, record: Any) -> OpenedEnvelope | Error:
        """Verify and decrypt ``record``; return the error instead of raising it."""
        started = time.perf_counter()
        try:
            opened = self.verifier.open(record.value or b"", identity=self.identity)
        except Error as exc:
            return exc
        self.metrics.open_latency.record((time.perf_counter() - started) * 1000)
        return opened

    def batch(self, records: Sequence[Any], pre: Sequence[Opened]) -> list[Opened]:
        """Open each record a worker did not (``pre``); streamed dossiers' parts stay None."""
        return [
            self.one(r) if p is None and not is_part(r.value or b"") else p
            for r, p in zip(records, pre, strict=True)
        ]
