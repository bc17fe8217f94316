"""Relayed control orders: a restriction or recall reaches every agency a hit was released to.

An agency the hub told about the owner's holding (a ``HitNotification`` naming the owner,
releasable at once or released by the owner's grant) never received the dossier, so the
owner's ``CONTROL`` envelope cannot reach it, and the owner may not even know it (a
restricted holder is only ever an alias to it). The hub relays the order instead — and
without being trusted with it: the owner signs a **relay copy** of every order that has the
hub among its holders (:func:`sign_relay_copy`; the copy is the ``ControlOrder`` with
``holders`` empty, so it names none of the owner's recipients), and carries it in the
order's ``relay`` field. The hub forwards those bytes unchanged in a ``RelayedOrder``
(:mod:`broker.hub.relay`); the downstream agency checks the *owner's* signature
(:func:`verify_relay_copy`), so the hub can neither forge nor alter an order, only fail to
relay it (which the owner sees: the hub's receipt names whom it relayed to).

The downstream agency (:class:`Downstream`) applies it to what it holds of the released
hit — the hub's notifications naming the owner on the relayed hit keys:

* ``RECALL``: those notifications are erased (store row, pending hand-over, at-rest key) and
  tombstoned, as is the owner's dossier itself; the answer is ``DESTROYED``;
* ``RESTRICT``: the new codes are recorded for the owner's dossier if at least as tight as
  any earlier restriction (else ``REFUSED``, ``restriction-widens``); ``APPLIED``;

and answers with a signed ``ComplianceReceipt`` (``via`` the hub) to the owner, or to the
hub when its own holding is restricted (the owner may not learn of it).

Example::

    >>> RELAY_TAG, RELAY_CONTEXT
    ('fed-control-v1', b'fed-control-v1')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from broker._internal.framing import frame
from broker.agency.answers import send_answer
from broker.agency.batch import Settlement
from broker.agency.ledger import ComplianceLedger, RelayedRow
from broker.agency.publisher import Publisher
from broker.agency.store import AgencyStore
from broker.audit.compliance import relay_event
from broker.audit.events import AuditEvent
from broker.codec import SchemaStore
from broker.envelope import OpenedEnvelope
from broker.errors import SchemaError, SignatureError, ValidationError
from broker.topics import HUB
from broker.trust import AgencyIdentity, TrustStore

__all__ = [
    "RELAY_CONTEXT",
    "RELAY_TAG",
    "Downstream",
    "RelayCopy",
    "note_relayed",
    "sign_relay_copy",
    "verify_relay_copy",
]

RELAY_TAG = "fed-control-v1"
RELAY_CONTEXT = b"fed-control-v1"
ORDER = "eu.fed.ControlOrder"
SIGNED = "eu.fed.SignedControlOrder"
RELAYED = "eu.fed.RelayedOrder"


@dataclass(frozen=True, kw_only=True)
class RelayCopy:
    """One ``RelayedOrder`` the hub sends (kind ``CONTROL``) to an agency a hit was released to."""

    to: str
    payload: bytes
    #: Whether the owner may learn of ``to`` (not a restricted holder): listed in the receipt.
    named: bool


def note_relayed(
    ledger: ComplianceLedger, order: dict[str, Any], copy: RelayCopy, *, agency: str
) -> AuditEvent:
    """Return the audit event of a relay sent (rule 5 binds ``copy.to``); keep it if restricted.

    A restricted agency answers us: the ledger keeps the order (``relayed``), so ``broker
    compliance`` shows its answer, or that it is overdue past the owner's deadline.
    """
    if not copy.named:
        ledger.add_relayed(
            RelayedRow(
                order_id=order["order_id"],
                action=order["action"],
                envelope_id=order["envelope_id"],
                owner=order["owner"],
                holder=copy.to,
                deadline=order["deadline"].timestamp(),
                at=dt.datetime.now(dt.UTC).timestamp(),
            )
        )
    return relay_event(
        actor=agency,
        envelope_id=order["envelope_id"],
        owner=order["owner"],
        holder=copy.to,
        order_id=order["order_id"],
        restricted=not copy.named,
    )


def sign_relay_copy(order: dict[str, Any], *, identity: AgencyIdentity) -> bytes:
    """Return the owner's ``SignedControlOrder`` of ``order`` (holders emptied, no relay)."""
    store = SchemaStore.default()
    body = store.encode(ORDER, {**order, "holders": [], "relay": None})
    key_id = identity.signing.key_id
    message = frame(RELAY_TAG, identity.agency.encode(), key_id.encode(), body)
    return store.encode(
        SIGNED,
        {
            "body": body,
            "owner": identity.agency,
            "key_id": key_id,
            "ed25519": identity.signing.ed25519.sign(message),
            "ml_dsa_65": identity.signing.ml_dsa_65.sign(message, context=RELAY_CONTEXT),
        },
    )


def verify_relay_copy(data: bytes, *, trust: TrustStore) -> dict[str, Any]:
    """Verify a ``SignedControlOrder`` against the registry; return the order it signs.

    Raises :class:`SignatureError` (reason ``bad-signature``) if it does not decode, a
    signature fails, or the body is not a relay copy by its signer; a :class:`TrustError`
    if the owner's key was not valid when the order was made.
    """
    store = SchemaStore.default()
    try:
        signed = store.decode(SIGNED, data)
        order: dict[str, Any] = store.decode(ORDER, signed["body"])
    except SchemaError as exc:
        raise SignatureError("malformed signed control order", detail=str(exc)) from exc
    keys = trust.signing_key(agency=signed["owner"], key_id=signed["key_id"], at=order["at"])
    message = frame(RELAY_TAG, signed["owner"].encode(), signed["key_id"].encode(), signed["body"])
    try:
        keys.ed25519.verify(signed["ed25519"], message)
        keys.ml_dsa_65.verify(signed["ml_dsa_65"], message, context=RELAY_CONTEXT)
    except InvalidSignature:
        raise SignatureError(
            "control order signature does not verify", detail=str(order["order_id"])
        ) from None
    if order["owner"] != signed["owner"] or order["holders"] or order["relay"] is not None:
        raise SignatureError(
            "signed control order is not its signer's relay copy", detail=order["order_id"]
        )
    return order


def _names(hit: dict[str, Any], owner: str, keys: set[str]) -> bool:
    """Whether a hit notification tells its holder that ``owner`` holds one of ``keys``."""
    if hit["hit_key"] in keys and owner in hit["other_agencies"]:
        return True
    return any(m["hit_key"] in keys and owner in m["other_agencies"] for m in hit["matches"])


class Downstream:
    """An agency's side of a relayed order (see the module docstring)."""

    def __init__(
        self,
        *,
        agency: str,
        store: AgencyStore,
        ledger: ComplianceLedger,
        publisher: Publisher,
        trust: TrustStore,
    ) -> None:
        self.agency = agency
        self._store = store
        self._ledger = ledger
        self._publisher = publisher
        self._trust = trust
        self._schemas = SchemaStore.default()

    def is_relayed(self, opened: OpenedEnvelope) -> bool:
        """Whether a ``CONTROL`` envelope carries a relayed order (not the owner's own)."""
        return opened.header.payload_fingerprint == self._schemas.fingerprint(RELAYED)

    async def apply(self, opened: OpenedEnvelope, work: Settlement) -> None:
        """Check and apply one relayed order; queue the signed answer with the batch."""
        relayer = opened.header.sender
        if relayer != HUB:  # only the hub releases hits, so only the hub relays
            raise ValidationError("relayed control order not from the hub", detail=relayer)
        relayed = self._schemas.decode(RELAYED, opened.payload)
        order = verify_relay_copy(relayed["signed_order"], trust=self._trust)
        owner, envelope_id = order["owner"], order["envelope_id"]
        if relayed["answer_to"] not in (owner, relayer):
            raise ValidationError("relayed order answers to a third party", detail=relayer)
        keys = set(relayed["hit_keys"])
        before = self._ledger.answered(order["order_id"])
        if before is not None:  # a second copy: answer again, as for a direct order
            (status, ground), held, erased = before, True, 0
        elif order["action"] == "RECALL":
            held, erased = self._erase(owner, envelope_id, order["order_id"], relayer, keys)
            status, ground = "DESTROYED", None
        elif order["action"] == "RESTRICT":
            held, status, ground = self._restrict(owner, envelope_id, order, relayer, keys)
            erased = 0
        else:
            raise ValidationError("only a recall or a restriction is relayed", detail=relayer)
        await send_answer(
            self._publisher,
            agency=self.agency,
            order=order,
            answer=(status, ground),
            held=held,
            erased=erased,
            to=relayed["answer_to"],
            codes=opened.header.codes,
            work=work,
            via=relayer,
        )

    def _hits(self, owner: str, relayer: str, keys: set[str]) -> list[str]:
        """Return the envelope ids of ``relayer``'s notifications naming ``owner`` on ``keys``."""
        found = []
        for item in self._store.inbox(kind="HIT_NOTIFICATION"):
            if item.sender != relayer:
                continue
            hit = self._schemas.decode("eu.fed.HitNotification", item.payload)
            if _names(hit, owner, keys):
                found.append(item.envelope_id)
        return found

    def _erase(
        self, owner: str, envelope_id: str, order_id: str, relayer: str, keys: set[str]
    ) -> tuple[bool, int]:
        """Erase and tombstone the released hits (and the dossier): (held, items erased)."""
        hits = self._hits(owner, relayer, keys)
        erased = 0
        with self._ledger.transaction() as db:
            for hit_id in hits:
                erased += self._ledger.tombstone(
                    db, sender=relayer, envelope_id=hit_id, order_id=order_id
                )
            # The recalled dossier itself is refused from now on too (a recipient erases it
            # anyway when the direct order arrives: the end state is the same).
            self._ledger.tombstone(db, sender=owner, envelope_id=envelope_id, order_id=order_id)
            self._ledger.note_answer(
                db,
                order_id=order_id,
                owner=owner,
                envelope_id=envelope_id,
                action="RECALL",
                status="DESTROYED",
                ground=None,
            )
        if self._store.vault is not None:
            erased += sum(self._store.vault.destroy(relayer, hit_id) for hit_id in hits)
        return bool(hits), erased

    def _restrict(
        self,
        owner: str,
        envelope_id: str,
        order: dict[str, Any],
        relayer: str,
        keys: set[str],
    ) -> tuple[bool, str, str | None]:
        """Record the owner's tighter codes for its dossier: (held, status, ground)."""
        new = order["codes"]
        if new is None:
            raise ValidationError("restriction without codes")
        held = bool(self._hits(owner, relayer, keys))
        status, ground = self._ledger.record_restriction(
            owner=owner,
            envelope_id=envelope_id,
            order_id=order["order_id"],
            new=new,
            current=self._ledger.restricted_codes(owner, envelope_id),
        )
        return held, status, ground
