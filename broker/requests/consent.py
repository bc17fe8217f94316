"""Originator control for replies: no reply discloses another agency's restricted holding.

A reply to agency R built from what agency O sent us under codes that need the
originator's consent (H2, TLP:RED, TLP:AMBER+STRICT:
:attr:`~broker.models.Codes.originator_consent_required`) needs O's grant first.
"Built from" is judged on the content, not on what the replier says: the reply's
selectors and media hashes (:func:`broker.hub.keys.dossier_keys`) against those of
every restricted dossier (or reply) another agency sent us.

Without the grant the reply is withheld (:class:`~broker.errors.ConsentRequiredError`)
and O is asked once, with a signed ``ReleaseRequest`` (``hit_key`` =
``request:<request id>``, ``owner_envelope_id`` = O's envelope, ``requested_for`` =
``[R]``) that O answers with ``broker hub grant`` like a hub's: the ``ReleaseGrant``
comes back to us (:mod:`broker.requests.inbound` records it), and the same reply
then goes. Refusing instead is ground ``no-originator-consent``.

Example::

    await require_consent(desk, dossier, request_id=rid, requester="DE-BKA")
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from broker.agency.store import InboxItem
from broker.audit.events import AuditEvent
from broker.codec import SchemaStore
from broker.errors import ConsentRequiredError, Error
from broker.hub.keys import dossier_keys
from broker.models import Codes, Dossier
from broker.models.codes import codes_from_json
from broker.models.streamed import Manifest
from broker.requests.model import RequestReply
from broker.requests.store import Consent, ThreadEntry

if TYPE_CHECKING:
    from broker.requests.desk import RequestDesk

__all__ = ["require_consent", "restricted_overlaps"]


def _dossier_of(item: InboxItem) -> Dossier | None:
    """The dossier an inbox item carries (a DOSSIER, streamed or not, or a REPLY)."""
    if item.kind == "REPLY":
        return RequestReply.from_bytes(item.payload).opened_dossier()
    if SchemaStore.split(item.payload)[0] == Manifest.fingerprint():
        return Manifest.from_bytes(item.payload).small_dossier()
    return Dossier.from_bytes(item.payload)


def restricted_overlaps(
    items: list[InboxItem], dossier: Dossier, *, agency: str, requester: str
) -> Iterator[tuple[str, str, dict[str, object]]]:
    """Yield ``(owner, envelope id, codes)`` of each restricted holding ``dossier`` touches.

    Holdings of ``agency`` itself and of the ``requester`` (who has them already) are not
    restricted towards the requester.
    """
    keys = {key for key, _ in dossier_keys(dossier)}
    if not keys:
        return
    for item in items:
        if item.sender in (agency, requester) or item.kind not in ("DOSSIER", "REPLY"):
            continue
        codes = codes_from_json(item.provenance["codes"])
        if not Codes.model_validate(codes).originator_consent_required:
            continue
        try:
            held = _dossier_of(item)
        except Error:  # stored after validation: a newer release may read it otherwise
            yield item.sender, item.envelope_id, codes  # fail closed: ask all the same
            continue
        if held is not None and keys & {key for key, _ in dossier_keys(held)}:
            yield item.sender, item.envelope_id, codes


async def require_consent(
    desk: RequestDesk, dossier: Dossier, *, request_id: str, requester: str
) -> None:
    """Return if every restricted holding in ``dossier`` is released to ``requester``.

    Otherwise ask each originator not yet asked (a signed ``ReleaseRequest``, audited)
    and raise :class:`ConsentRequiredError` naming them.
    """
    items = desk.node.store.inbox()
    consents = desk.store.consents()
    missing: list[str] = []
    for owner, envelope_id, codes in restricted_overlaps(
        items, dossier, agency=desk.agency, requester=requester
    ):
        mine = [c for c in consents if c.owner == owner and c.owner_envelope_id == envelope_id]
        if any(requester in (c.granted_to or []) for c in mine):
            continue
        missing.append(f"{owner} (envelope {envelope_id})")
        if any(requester in c.requested_for and c.granted_to is None for c in mine):
            continue  # asked already; waiting for the grant
        await _ask(
            desk,
            owner=owner,
            envelope_id=envelope_id,
            codes=codes,
            request_id=request_id,
            requester=requester,
        )
    if missing:
        raise ConsentRequiredError(
            "reply withheld: it discloses restricted holdings of another agency",
            detail="waiting for the release grant of " + ", ".join(missing),
        )


async def _ask(
    desk: RequestDesk,
    *,
    owner: str,
    envelope_id: str,
    codes: dict[str, object],
    request_id: str,
    requester: str,
) -> None:
    release_request_id = secrets.token_hex(16)
    payload = SchemaStore.default().encode(
        "eu.fed.ReleaseRequest",
        {
            "request_id": release_request_id,
            "hit_key": f"request:{request_id}",
            "owner_envelope_id": envelope_id,
            "requested_for": [requester],
            "at": dt.datetime.now(dt.UTC),
        },
    )
    result = await desk.node.publish(payload, kind="RELEASE_REQUEST", codes=dict(codes), to=[owner])
    desk.store.add_consent(
        Consent(
            release_request_id=release_request_id,
            request_id=request_id,
            owner=owner,
            owner_envelope_id=envelope_id,
            requested_for=[requester],
            granted_to=None,
        ),
        at=time.time(),
    )
    row = desk.store.get(request_id)
    desk.store.add_entry(
        ThreadEntry(
            case_ref=row.case_ref,
            at=time.time(),
            kind="CONSENT_ASKED",
            request_id=request_id,
            envelope_id=result.envelope_id,
            sender=desk.agency,
            recipient=owner,
            detail=f"release of {envelope_id} to {requester}",
        )
    )
    desk.node.audit.record(
        AuditEvent.release_request(
            actor=desk.agency,
            envelope_id=result.envelope_id,
            owner=owner,
            requested_for=[requester],
            request_id=release_request_id,
        )
    )
