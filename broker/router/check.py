"""What the router checks before it routes a record, without decrypting it.

:class:`EnvelopeCheck` verifies the signature against the public registry, that
the signer owns the outbox the record came from, that it is not stale, and that
every recipient exists and is not revoked, and that the access matrix lets the
sender's member kind send this envelope kind to each recipient's member kind
(:func:`broker.topics.message_allowed`: e.g. a police ``DOSSIER`` never reaches a
hotline, ``kind-not-allowed``); :class:`Route` is what it found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from broker.envelope import DEFAULT_MAX_TRANSIT, Verifier
from broker.envelope.stream import is_part
from broker.errors import KindNotAllowedError, SignatureError
from broker.router.parts import PART_KIND, check_part
from broker.topics import message_allowed
from broker.trust.registry import TrustStore

__all__ = ["EnvelopeCheck", "Route", "RoutingCheck"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """What the check found: who signed it and where it goes."""

    envelope_id: str
    sender: str
    recipients: list[str]
    kind: str


class RoutingCheck(Protocol):
    """Verify a record from ``outbox_owner``'s outbox; raise a broker Error to reject it."""

    def __call__(self, value: bytes, *, outbox_owner: str) -> Route: ...


class EnvelopeCheck:
    """The router's check: signature, outbox ownership, recipients known and not revoked.

    Holds only the public registry: the router can verify but never decrypt. The
    router is the first trusted observer of an envelope: it refuses one created
    longer than ``max_transit`` ago (``stale``), so a retired key cannot back-date.
    """

    def __init__(
        self, *, trust: TrustStore, max_transit: dt.timedelta = DEFAULT_MAX_TRANSIT
    ) -> None:
        self._verifier = Verifier(trust=trust, max_transit=max_transit)
        self._trust = trust

    def __call__(self, value: bytes, *, outbox_owner: str) -> Route:
        """Return where the envelope goes, or raise the reason it is refused."""
        if is_part(value):  # a streamed dossier's part (broker.router.parts)
            part = check_part(value, outbox_owner=outbox_owner, trust=self._trust)
            self._allowed(part.sender, part.recipients, "DOSSIER")  # parts carry dossiers only
            return Route(
                envelope_id=part.envelope_id,
                sender=part.sender,
                recipients=part.recipients,
                kind=PART_KIND,
            )
        now = dt.datetime.now(dt.UTC)
        verified = self._verifier.verify(value, now=now)
        header = verified.header
        if header.sender != outbox_owner:
            raise SignatureError(
                "envelope rejected",
                detail=f"signed by {header.sender} but published in {outbox_owner}'s outbox",
            )
        # Recipient keys are judged when the sender sealed (``created_at``, which the stale
        # check above bounds to ``max_transit`` ago), as the sender's key is: an envelope
        # sealed to a key its recipient rotated out while it waited in the outbox is routed
        # (the recipient keeps that epoch's private key until its inbox drained past the
        # transit window). Unknown or revoked (compromised) keys raise their own TrustError
        # whatever the time, and so does a key already retired when the envelope was sealed.
        sealed_at = min(now, header.created_at)
        for agency, key_id in header.recipients:
            self._trust.encryption_key(agency=agency, key_id=key_id, at=sealed_at)
        self._allowed(header.sender, header.recipient_agencies, header.kind)
        return Route(
            envelope_id=header.envelope_id,
            sender=header.sender,
            recipients=header.recipient_agencies,
            kind=header.kind,
        )

    def _allowed(self, sender: str, recipients: list[str], kind: str) -> None:
        """Raise KindNotAllowedError unless the access matrix allows every delivery."""
        sender_kind = self._trust.member(sender).kind
        for agency in recipients:
            recipient_kind = self._trust.member(agency).kind
            if not message_allowed(sender_kind, recipient_kind, kind):
                raise KindNotAllowedError(
                    "envelope rejected",
                    detail=f"{sender_kind} {sender} may not send {kind} to "
                    f"{recipient_kind} {agency}",
                )
