"""Audit events: what happened, to which envelope, between whom — never content.

An :class:`AuditEvent` is written by exactly one node into its own stream. The
writer (:class:`broker.audit.writer.AuditLog`) fills in ``stream``, ``seq`` and
``prev_leaf_hash`` when it appends; everything else is set by the node that
acted. The encoded bytes (Avro single-object, ``eu.fed.AuditEvent``) are the
Merkle leaf: verification hashes the exact stored bytes, never a re-encoding.

Conventions for ``parties``: ``parties[0]`` is the envelope's sender (or the
agency a federation event is about); the rest are its recipients, or the one
recipient concerned (``DELIVER``, ``OPEN``, ``RECEIPT``).

Example::

    >>> ev = AuditEvent.new(AuditKind.PUBLISH, actor="ES-PN", parties=["ES-PN", "DE-BKA"],
    ...                     envelope_id="env-1", envelope_sha256=bytes(32), message_kind="DOSSIER")
    >>> AuditEvent.from_bytes(ev.at_position(stream="ES-PN", seq=0, prev=b"").to_bytes()).seq
    0
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from broker.codec import SchemaStore
from broker.errors import AuditError, SchemaError

__all__ = [
    "CHECKPOINT_SCHEMA",
    "EVENT_SCHEMA",
    "FEDERATION_STREAM",
    "ORIGIN_PREFIX",
    "ROUTER_STREAM",
    "AuditEvent",
    "AuditKind",
    "origin_for",
    "stream_of_origin",
]

EVENT_SCHEMA = "eu.fed.AuditEvent"
CHECKPOINT_SCHEMA = "eu.fed.AuditCheckpoint"

#: Checkpoint origin prefix: stream ``ES-PN`` is the log ``fed.audit/ES-PN``.
ORIGIN_PREFIX = "fed.audit/"


#: Audit streams that are not agencies: the router's and the federation administrator's.
ROUTER_STREAM = "router"
FEDERATION_STREAM = "federation"


def origin_for(stream: str) -> str:
    """Return the checkpoint origin (and note key name) of ``stream``."""
    return ORIGIN_PREFIX + stream


def stream_of_origin(origin: str) -> str | None:
    """Return the stream a checkpoint origin names, or None if it is not an audit origin."""
    return origin.removeprefix(ORIGIN_PREFIX) if origin.startswith(ORIGIN_PREFIX) else None


class AuditKind(StrEnum):
    """What happened (``eu.fed.AuditEventKind``)."""

    PUBLISH = "PUBLISH"
    ROUTE = "ROUTE"
    REJECT = "REJECT"
    DELIVER = "DELIVER"
    OPEN = "OPEN"
    RECEIPT = "RECEIPT"
    HIT_NOTIFICATION = "HIT_NOTIFICATION"
    RELEASE_REQUEST = "RELEASE_REQUEST"
    RELEASE_GRANT = "RELEASE_GRANT"
    KEY_CREATE = "KEY_CREATE"
    KEY_ROTATE = "KEY_ROTATE"
    KEY_REVOKE = "KEY_REVOKE"
    AGENCY_ADD = "AGENCY_ADD"
    AGENCY_REMOVE = "AGENCY_REMOVE"


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One audit event (see the module docstring for field conventions)."""

    event_id: str
    kind: AuditKind
    at: dt.datetime
    actor: str
    outcome: str = "ok"
    envelope_id: str | None = None
    envelope_sha256: bytes | None = None
    parties: list[str] = field(default_factory=list)
    codes: dict[str, Any] | None = None
    reason: str | None = None
    message_kind: str | None = None
    ref: str | None = None
    stream: str = ""
    seq: int = -1
    prev_leaf_hash: bytes = b""

    @classmethod
    def new(cls, kind: AuditKind, *, actor: str, **fields: Any) -> AuditEvent:
        """Return a fresh event with a random id, stamped now (position not yet assigned)."""
        now = dt.datetime.now(dt.UTC)
        return cls(
            event_id=secrets.token_hex(16),
            kind=AuditKind(kind),
            at=now.replace(microsecond=now.microsecond // 1000 * 1000),  # as stored (millis)
            actor=actor,
            **fields,
        )

    def at_position(self, *, stream: str, seq: int, prev: bytes) -> AuditEvent:
        """Return this event placed at ``seq`` of ``stream`` after the leaf ``prev``."""
        return dataclasses.replace(self, stream=stream, seq=seq, prev_leaf_hash=prev)

    def to_avro(self) -> dict[str, Any]:
        """Return the ``eu.fed.AuditEvent`` record."""
        rec = dataclasses.asdict(self)
        rec["kind"] = self.kind.value
        return rec

    def to_bytes(self) -> bytes:
        """Encode in Avro single-object form (the exact bytes that become the leaf)."""
        return SchemaStore.default().encode(EVENT_SCHEMA, self.to_avro())

    @classmethod
    def from_avro(cls, rec: dict[str, Any]) -> AuditEvent:
        """Build from a decoded ``eu.fed.AuditEvent`` record."""
        rec = dict(rec)
        rec["kind"] = AuditKind(rec["kind"])
        return cls(**rec)

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditEvent:
        """Decode single-object bytes; raise :class:`AuditError` if they are not an event."""
        try:
            return cls.from_avro(SchemaStore.default().decode(EVENT_SCHEMA, data))
        except (SchemaError, TypeError, ValueError) as exc:
            raise AuditError("not an audit event", detail=str(exc)) from exc

    def summary(self) -> str:
        """One human line (for ``broker audit trail``)."""
        who = " -> ".join([*self.parties[:1], ",".join(self.parties[1:])] if self.parties else [])
        bits = [self.at.isoformat(timespec="milliseconds"), self.kind.value, f"by {self.actor}"]
        if who:
            bits.append(who)
        if self.message_kind:
            bits.append(self.message_kind)
        bits.append(self.outcome + (f" ({self.reason})" if self.reason else ""))
        bits.append(f"[{self.stream}#{self.seq}]")
        return "  ".join(bits)
