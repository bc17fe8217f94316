"""What the agency node hands back: publish results, deliveries, consume counters.

Example::

    >>> stats = ConsumeStats()
    >>> stats.delivered += 1
    >>> stats
    ConsumeStats(delivered=1, receipts=0, rejected=0, reasons={})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from broker.envelope import OpenedEnvelope
from broker.models import Dossier

__all__ = ["ConsumeStats", "Delivery", "Handler", "PublishResult"]


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    """What a publish returns once Kafka acknowledged it."""

    envelope_id: str
    sequence: int
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """A verified, decrypted, validated delivery handed to the handler."""

    opened: OpenedEnvelope
    dossier: Dossier | None
    envelope_sha256: str
    #: The router's stamp: the timestamp of the inbox record the router wrote (None if
    #: unknown). Request deadlines run from it (:mod:`broker.requests`).
    received_at: dt.datetime | None = None

    @property
    def envelope_id(self) -> str:
        """The envelope id (handlers may de-duplicate on it)."""
        return self.opened.header.envelope_id

    def to_json_dict(self) -> dict[str, Any]:
        """Return sender, envelope id, codes, evaluation and the dossier, JSON-ready."""
        prov = self.opened.provenance()
        out: dict[str, Any] = {
            "sender": prov["sender"],
            "envelope_id": prov["envelope_id"],
            "kind": prov["kind"],
            "sequence": prov["sequence"],
            "codes": prov["codes"],
            "evaluation": prov["codes"]["evaluation"],
            "provenance": prov,
        }
        if self.dossier is not None:
            out["dossier"] = self.dossier.model_dump(mode="json")
        return out


Handler = Callable[[Delivery], Awaitable[None]]


@dataclass
class ConsumeStats:
    """Counters for one consume run."""

    delivered: int = 0
    receipts: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
