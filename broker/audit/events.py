"""Audit events: what happened, to which envelope, between whom — never content.

An :class:`AuditEvent` is written by exactly one node into its own stream. The
writer (:class:`broker.audit.writer.AuditLog`) fills in ``stream``, ``seq`` and
``prev_leaf_hash`` when it appends; everything else is set by the node that
acted. The encoded bytes (Avro single-object, ``eu.fed.AuditEvent``) are the
Merkle leaf: verification hashes the exact stored bytes, never a re-encoding.

Conventions for ``parties``: ``parties[0]`` is the envelope's sender (or the
agency a federation event is about); the rest are its recipients, or the one
recipient concerned (``DELIVER``, ``OPEN``, ``RECEIPT``). Every emitter builds
its events with the typed constructors below (:meth:`AuditEvent.publish`,
:meth:`AuditEvent.deliver`, :meth:`AuditEvent.open`, :meth:`AuditEvent.grant`,
...), so that this vocabulary — and the ``outcome`` strings the rules of
:mod:`broker.audit.rules` read — is written in one place.

Example::

    >>> ev = AuditEvent.publish(actor="ES-PN", envelope_id="env-1", envelope_sha256=bytes(32),
    ...                         recipients=["DE-BKA"], codes=None, message_kind="DOSSIER")
    >>> ev.parties
    ['ES-PN', 'DE-BKA']
    >>> AuditEvent.from_bytes(ev.at_position(stream="ES-PN", seq=0, prev=b"").to_bytes()).seq
    0
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from broker.codec import SchemaStore
from broker.errors import AuditError, SchemaError
from broker.topics import ROUTER

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
ROUTER_STREAM = ROUTER
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
    #: A takedown notice's life-cycle step (outcome: ISSUED, RESENT, REMOVED, REAPPEARED).
    NOTICE = "NOTICE"
    CONTROL_ORDER = "CONTROL_ORDER"
    COMPLIANCE = "COMPLIANCE"
    RETENTION = "RETENTION"
    #: The request workflow (broker.requests): received, replied, refused.
    REQUEST = "REQUEST"
    #: A request's time limit: reminder at 75 %, overdue at the limit.
    DEADLINE = "DEADLINE"
    #: An agency destroyed a retired (epoch) decryption key: ``ref`` the key id.
    KEY_DESTROYED = "KEY_DESTROYED"
    #: The hub relayed an owner's order to an agency a hit was released to: ``ref`` the order.
    CONTROL_RELAY = "CONTROL_RELAY"


_FEDERATION_KINDS = frozenset(
    {
        AuditKind.AGENCY_ADD,
        AuditKind.AGENCY_REMOVE,
        AuditKind.KEY_CREATE,
        AuditKind.KEY_ROTATE,
        AuditKind.KEY_REVOKE,
    }
)


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

    # -- typed constructors, one per kind: the vocabulary the rules read ---------------------

    @classmethod
    def publish(
        cls,
        *,
        actor: str,
        envelope_id: str,
        envelope_sha256: bytes,
        recipients: Sequence[str],
        codes: dict[str, Any] | None,
        message_kind: str,
    ) -> AuditEvent:
        """``actor`` published an envelope to ``recipients`` (rule 1 reads ``parties``)."""
        return cls.new(
            AuditKind.PUBLISH,
            actor=actor,
            envelope_id=envelope_id,
            envelope_sha256=envelope_sha256,
            parties=[actor, *recipients],
            codes=codes,
            message_kind=message_kind,
        )

    @classmethod
    def route(
        cls,
        *,
        actor: str,
        envelope_id: str,
        envelope_sha256: bytes,
        sender: str,
        recipients: Sequence[str],
        message_kind: str,
    ) -> AuditEvent:
        """The router accepted a sender's envelope for ``recipients``."""
        return cls.new(
            AuditKind.ROUTE,
            actor=actor,
            envelope_id=envelope_id,
            envelope_sha256=envelope_sha256,
            parties=[sender, *recipients],
            message_kind=message_kind,
            outcome="routed",
        )

    @classmethod
    def deliver(
        cls,
        *,
        actor: str,
        envelope_id: str,
        envelope_sha256: bytes,
        sender: str,
        recipient: str,
        message_kind: str,
    ) -> AuditEvent:
        """The router wrote the envelope to ``recipient``'s inbox (only the router's count)."""
        return cls.new(
            AuditKind.DELIVER,
            actor=actor,
            envelope_id=envelope_id,
            envelope_sha256=envelope_sha256,
            parties=[sender, recipient],
            message_kind=message_kind,
        )

    @classmethod
    def open(
        cls,
        *,
        actor: str,
        envelope_id: str,
        envelope_sha256: bytes,
        sender: str,
        codes: dict[str, Any] | None,
        message_kind: str,
        ref: str | None = None,
    ) -> AuditEvent:
        """``actor`` opened (verified, decrypted, stored) an envelope from ``sender``.

        ``ref`` is ``parts:N`` for a streamed dossier (its manifest's envelope hash).
        """
        return cls.new(
            AuditKind.OPEN,
            actor=actor,
            envelope_id=envelope_id,
            envelope_sha256=envelope_sha256,
            parties=[sender, actor],
            codes=codes,
            message_kind=message_kind,
            ref=ref,
        )

    @classmethod
    def receipt(
        cls,
        *,
        actor: str,
        envelope_id: str,
        envelope_sha256: bytes,
        recipient: str,
        status: str,
        reason: str | None,
        receipt_id: str,
    ) -> AuditEvent:
        """``actor`` (the sender) got ``recipient``'s receipt for one of its envelopes."""
        return cls.new(
            AuditKind.RECEIPT,
            actor=actor,
            envelope_id=envelope_id,
            envelope_sha256=envelope_sha256,
            parties=[actor, recipient],
            outcome=status.lower(),
            reason=reason,
            ref=receipt_id,
        )

    @classmethod
    def reject(
        cls,
        *,
        actor: str,
        envelope_id: str | None,
        envelope_sha256: bytes,
        parties: Sequence[str],
        reason: str,
        where: str,
    ) -> AuditEvent:
        """A record was dead-lettered: ``where`` is ``topic/partition/offset``."""
        return cls.new(
            AuditKind.REJECT,
            actor=actor,
            envelope_id=envelope_id,
            envelope_sha256=envelope_sha256,
            parties=list(parties),
            outcome="rejected",
            reason=reason,
            ref=where,
        )

    @classmethod
    def lost(cls, *, actor: str, reason: str, where: str, owner: str | None = None) -> AuditEvent:
        """Records expired unread: ``where`` is ``topic/partition/first-last`` (no content).

        A ``REJECT`` with outcome ``lost``: like every dead letter, the loss's has one.
        ``owner`` is the agency whose records were lost (default: ``actor``, an inbox's
        own agency; the router names the outbox's agency).
        """
        return cls.new(
            AuditKind.REJECT,
            actor=actor,
            parties=[owner or actor],
            outcome="lost",
            reason=reason,
            ref=where,
        )

    @classmethod
    def hit_notified(
        cls, *, actor: str, envelope_id: str, owner: str, others: Sequence[str], owner_envelope: str
    ) -> AuditEvent:
        """The hub told ``owner`` of a hit, naming only the holders it may name."""
        return cls.new(
            AuditKind.HIT_NOTIFICATION,
            actor=actor,
            envelope_id=envelope_id,
            parties=[actor, owner, *others],
            outcome="notified",
            ref=owner_envelope,
            message_kind="HIT_NOTIFICATION",
        )

    @classmethod
    def hit_released(
        cls, *, actor: str, envelope_id: str, owner: str, released_by: str, request_id: str
    ) -> AuditEvent:
        """The hub revealed restricted holder ``released_by`` to ``owner`` (needs its grant)."""
        return cls.new(
            AuditKind.HIT_NOTIFICATION,
            actor=actor,
            envelope_id=envelope_id,
            parties=[actor, owner, released_by],
            outcome="released",
            ref=request_id,
            message_kind="HIT_NOTIFICATION",
        )

    @classmethod
    def release_request(
        cls,
        *,
        actor: str,
        envelope_id: str,
        owner: str,
        requested_for: Sequence[str],
        request_id: str,
        anonymous: Mapping[str, str] | None = None,
    ) -> AuditEvent:
        """The hub asked ``owner`` to release its holding to ``requested_for``.

        ``anonymous`` maps each alias the owner was shown instead of a restricted
        holder's id to that holder; the event records it as the party ``alias=AGENCY``,
        so an auditor can resolve a grant naming the alias (rule 3).
        """
        bound = [f"{alias}={agency}" for alias, agency in sorted((anonymous or {}).items())]
        return cls.new(
            AuditKind.RELEASE_REQUEST,
            actor=actor,
            envelope_id=envelope_id,
            parties=[actor, owner, *requested_for, *bound],
            outcome="requested",
            ref=request_id,
            message_kind="RELEASE_REQUEST",
        )

    @classmethod
    def grant(
        cls, *, actor: str, envelope_id: str, release_to: Sequence[str], request_id: str
    ) -> AuditEvent:
        """``actor`` (an owner) granted the release of request ``request_id`` to ``release_to``."""
        return cls.new(
            AuditKind.RELEASE_GRANT,
            actor=actor,
            envelope_id=envelope_id,
            parties=[actor, *release_to],
            outcome="granted",
            ref=request_id,
            message_kind="RELEASE_GRANT",
        )

    @classmethod
    def federation(
        cls,
        kind: AuditKind,
        *,
        agency: str,
        key_id: str | None = None,
        outcome: str = "ok",
        reason: str | None = None,
    ) -> AuditEvent:
        """An administrative act on ``agency`` (AGENCY_* and KEY_* kinds), by the federation."""
        if kind not in _FEDERATION_KINDS:
            raise AuditError("not a federation event kind", detail=str(kind))
        return cls.new(
            kind,
            actor=FEDERATION_STREAM,
            parties=[agency],
            ref=key_id,
            outcome=outcome,
            reason=reason,
        )

    def at_position(self, *, stream: str, seq: int, prev: bytes) -> AuditEvent:
        """Return this event placed at ``seq`` of ``stream`` after the leaf ``prev``."""
        return dataclasses.replace(self, stream=stream, seq=seq, prev_leaf_hash=prev)

    def to_avro(self) -> dict[str, Any]:
        """Return the ``eu.fed.AuditEvent`` record."""
        # Shallow: dataclasses.asdict deep-copies codes and parties (~100 µs an event) for
        # a record the encoder only reads. Same record, same bytes.
        rec = {name: getattr(self, name) for name in _FIELD_NAMES}
        rec["kind"] = self.kind.value
        return rec

    def to_bytes(self) -> bytes:
        """Encode in Avro single-object form (the exact bytes that become the leaf)."""
        rec = self.to_avro()
        if rec["codes"] is not None:
            # fastavro's tuple notation names the union branch instead of trying each one
            # against the record (~8 µs an event); the bytes are the same.
            rec["codes"] = ("eu.fed.Codes", rec["codes"])
        return SchemaStore.default().encode(EVENT_SCHEMA, rec)

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


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(AuditEvent))
