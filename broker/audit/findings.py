"""What an audit replay reports: raw records in, findings and a report out.

The verifier (:mod:`broker.audit.verify`) is fed :class:`RawRecord` values and
returns an :class:`AuditReport` whose :class:`Finding` entries each name a
:class:`FindingKind`, the stream, the sequence number and where the record was
read. The JSON form (``to_json_dict``) is what ``broker audit verify --json``
prints.

Example::

    >>> f = Finding(kind=FindingKind.DELETED, stream="ES-PN", where=None, seq=4,
    ...             detail="event missing")
    >>> f.line()
    'DELETED: stream ES-PN seq 4: event missing'
    >>> AuditReport(findings=[f]).ok
    False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["AuditReport", "Finding", "FindingKind", "RawRecord"]


class FindingKind(StrEnum):
    """The kind of tampering (or breakage) a finding reports."""

    UNDECODABLE = "undecodable"
    UNKNOWN_STREAM = "unknown-stream"
    DELETED = "deleted"
    REORDERED = "reordered"
    INJECTED = "injected"
    MODIFIED = "modified"
    ROOT_MISMATCH = "root-mismatch"
    FORGED_CHECKPOINT = "forged-checkpoint"
    FORK = "fork"
    TRUNCATED = "truncated"
    RULE = "rule-violation"
    MISSING_STREAM = "missing-stream"


@dataclass(frozen=True, kw_only=True)
class RawRecord:
    """One record of the audit topic as stored (exact bytes and its position)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def where(self) -> str:
        """``partition:offset``."""
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem found, and where."""

    kind: FindingKind
    stream: str | None
    where: str | None
    seq: int | None
    detail: str

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind.value,
            "stream": self.stream,
            "where": self.where,
            "seq": self.seq,
            "detail": self.detail,
        }

    def line(self) -> str:
        """One human line."""
        at = f"stream {self.stream}" if self.stream else "log"
        if self.seq is not None:
            at += f" seq {self.seq}"
        if self.where:
            at += f" (partition:offset {self.where})"
        return f"{self.kind.value.upper()}: {at}: {self.detail}"


@dataclass
class AuditReport:
    """The outcome of one replay."""

    records: int = 0
    events: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No finding at all."""
        return not self.findings

    @property
    def unanchored(self) -> list[str]:
        """Streams a rollback to an older consistent prefix could go unnoticed in.

        A stream is anchored when a checkpoint kept outside the broker or cosigned by
        witnesses verified for it, and fresh when its newest signed checkpoint time is
        recent (see :mod:`broker.audit.verify`).
        """
        return sorted(
            name
            for name, info in self.streams.items()
            if not info.get("anchored_against_rollback") or not info.get("fresh")
        )

    @property
    def verdict(self) -> str:
        """``FAILED``, ``OK``, or ``OK (not anchored against rollback: ...)``."""
        if not self.ok:
            return "FAILED"
        weak = self.unanchored
        return f"OK (not anchored against rollback: {', '.join(weak)})" if weak else "OK"

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "records": self.records,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events / self.seconds) if self.seconds else None,
            "streams": self.streams,
            "findings": [f.to_json_dict() for f in self.findings],
        }
