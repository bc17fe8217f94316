"""The hub: index what is addressed to it, tell owners where their cases meet.

Hit/no-hit with originator control:

* When a key (selector, media hash, PDQ cluster) is held by two or more agencies,
  each owner gets a signed ``HitNotification`` naming *its own* matched value and
  the other agencies holding it.
* An agency whose holding is restricted — handling code H2, TLP:RED or
  TLP:AMBER+STRICT (``Codes.originator_consent_required``) — is never named to
  anyone, in any message: the others get "hit, permission required", and the
  restricted owner gets a ``ReleaseRequest``. Nothing from another agency's
  dossier (value, envelope id, content) is ever put in a notification: a
  PDQ hit is keyed by its cluster's opaque id, and each owner is told only its
  own hash (red-team F11).
* A ``ReleaseRequest``'s ``requested_for`` names the *unrestricted* holders
  only. Each other restricted holder appears as a fresh alias
  (``restricted-holder-<16 hex>``, random per request, never an agency id):
  "another restricted holder asks". The hub keeps alias -> agency in its index
  and resolves it when the owner grants; so two restricted holders can release
  to each other, each granting without learning the other's name (a grant
  reveals the grantor to the holder behind the alias, never the reverse). A
  holder that joins later gets a request of its own; nobody is asked twice
  about the same holder. Otherwise a prober could mark its own probe H2 and
  read the names of the restricted holders off its request (red-team F1).
* The owner's signed ``ReleaseGrant`` releases exactly the hit it names to
  exactly the agencies (or aliases) it names, which must be among those
  requested: forwarding can only narrow the audience.
* A media hash on the hub's known-material list, or matched by a hash list the
  hub follows (:mod:`broker.hashlist`; exact SHA-256 / MD5 or PDQ near-duplicate),
  is reported to its holder with the list, category, series and the list owner's
  feedback (``ADD``, ``CONFIRM``, ``QUARANTINED``). When an entry is quarantined for
  over-matching, its list owner gets a signed, audited ``HitNotification`` saying so
  (:mod:`broker.hub.quarantine`), once per entry version.
* **One notification per owner holding and dossier**: everything a dossier
  triggers for one owner's holding (every matched key, with its other holders
  under the rules above, and the list matches with counts per list and category)
  goes in ONE ``HitNotification`` (``matches``, ``list_counts``), not one message
  per hash: a seizure of thousands of media gives each owner one summary.

Example::

    $ broker hub run --until-idle 10 [--known-material hashes.txt]
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from broker.agency import AgencyNode, Delivery
from broker.audit.events import AuditEvent
from broker.codec import SchemaStore
from broker.errors import Error, ValidationError
from broker.hub.index import Holding, HubIndex
from broker.hub.lists import ListMatch, ListResult
from broker.hub.quarantine import NOTICE_CODES, quarantine_key, quarantine_notice
from broker.hub.relay import relay_copies
from broker.models.codes import codes_from_json

__all__ = ["ANONYMOUS_PREFIX", "Hub", "Notice", "anonymous_alias", "plan"]

log = logging.getLogger(__name__)
#: What stands, in a ``ReleaseRequest``, for a restricted holder the owner may not learn of.
ANONYMOUS_PREFIX = "restricted-holder-"

_TYPES = {
    "phone": "PHONE_E164",
    "email": "EMAIL",
    "messaging_account": "MESSAGING_ACCOUNT",
    "messaging_group": "MESSAGING_GROUP",
    "online_handle": "ONLINE_HANDLE",
    "document": "DOCUMENT_NUMBER",
    "name_dob": "NAME_DOB",
    "device": "DEVICE_ID",
    "sha256": "MEDIA_SHA256",
    "pdq": "MEDIA_PDQ",
}


def anonymous_alias() -> str:
    """Return a fresh alias for one restricted holder in one release request.

    Random per request, so aliases do not link requests to each other; lower case, so
    never an agency id (:data:`broker.topics.AGENCY_ID_PATTERN`).

    >>> anonymous_alias().startswith(ANONYMOUS_PREFIX)
    True
    """
    return ANONYMOUS_PREFIX + secrets.token_hex(8)


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One decision: tell ``owner`` about ``key``, naming only ``visible``."""

    key: str
    owner: str
    owner_holding: Holding
    visible: set[str]
    permission_required: bool
    known_material: bool
    restricted_others: set[str]


def plan(index: HubIndex, key: str) -> list[Notice]:
    """Decide who learns what about ``key`` (pure; no Kafka)."""
    holdings = index.holdings(key)
    agencies = {h.agency for h in holdings}
    known = index.known_key(key)
    if len(agencies) < 2 and not known:
        return []
    restricted = {h.agency for h in holdings if h.restricted}
    notices = []
    for owner in sorted(agencies):
        others = agencies - {owner}
        hidden = others & restricted
        own = next(h for h in holdings if h.agency == owner)
        notices.append(
            Notice(
                key=key,
                owner=owner,
                owner_holding=own,
                visible=others - hidden,
                permission_required=bool(hidden),
                known_material=known,
                restricted_others=hidden,
            )
        )
    return notices


#: A notification that is not a dossier's summary (a released hit) lists nothing more.
_NO_SUMMARY: dict[str, object] = {
    "matches": [],
    "list_counts": [],
    "references": 0,
    "matched_references": 0,
}


def _list_match(m: ListMatch) -> dict[str, object]:
    return {
        "list": m.list,
        "list_owner": m.list_owner,
        "entry_id": m.entry_id,
        "category": m.category,
        "series": m.series,
        "kind": m.kind,
        "distance": m.distance,
        "status": m.status,
    }


class Hub:
    """The hub service on top of an agency node (EUROPOL by default)."""

    def __init__(self, *, node: AgencyNode, index: HubIndex) -> None:
        self.node = node
        self.index = index
        self.notifications = 0
        self.release_requests = 0
        self._store = SchemaStore.default()
        # A recall erases the hub's derived state too; a restriction changes who is named.
        node.control.erasers.append(index.erase_envelope)
        node.control.restrictors.append(index.restrict_envelope)
        # ... and reaches every agency a hit on the dossier was released to (relayed first).
        node.control.relayers.append(lambda order: relay_copies(index, order))

    async def on_delivery(self, delivery: Delivery) -> None:
        """Handle one delivery to the hub (the consumer's handler)."""
        header = delivery.opened.header
        if header.kind == "DOSSIER" and delivery.dossier is not None:
            dossier = delivery.dossier
            keys = self.index.add(dossier, agency=header.sender, envelope_id=header.envelope_id)
            found = self.index.match_lists(dossier)
            await self._notify(keys, found=found, sender=header.sender, refs=len(dossier.media))
            await self._notify_quarantines(found.entries)
        elif header.kind == "RELEASE_GRANT":
            await self._on_grant(header.sender, delivery.opened.payload)

    async def _notify(
        self,
        keys: list[str],
        *,
        found: ListResult | None = None,
        sender: str | None = None,
        refs: int = 0,
    ) -> None:
        """Send each owner holding ONE summary of what ``keys`` newly tell it."""
        todo: dict[tuple[str, str], list[tuple[Notice, set[str]]]] = {}
        for key in keys:
            for notice in plan(self.index, key):
                before = self.index.notified_others(key, notice.owner)
                state = set(notice.visible) | ({"?"} if notice.permission_required else set())
                if before is not None and state <= before:
                    continue  # nothing new for this owner
                group = (notice.owner, notice.owner_holding.envelope_id)
                todo.setdefault(group, []).append((notice, state | (before or set())))
        for (owner, _), items in sorted(todo.items()):
            notices = [n for n, _ in items]
            own = notices[0].owner_holding
            await self._send_summary(own, notices, found if owner == sender else None, refs)
            for notice, state in items:
                self.index.mark_notified(notice.key, owner, state)
            for notice in notices:
                for hidden in notice.restricted_others:
                    await self._request_release(notice.key, hidden)

    async def _send_summary(
        self,
        own: Holding,
        notices: list[Notice],
        found: ListResult | None,
        refs: int,
    ) -> None:
        # List matches are the sender's own (its media); other holders see known_material.
        lists = found.by_key if found is not None else {}
        counts = found.counts if found is not None else {}
        items = []
        for n in notices:
            items.append(
                {
                    "hit_key": n.key,
                    "selector_type": _TYPES.get(n.key.split(":", 1)[0], "DEVICE_ID"),
                    "selector_value": n.owner_holding.value,
                    "other_agencies": sorted(n.visible),
                    "permission_required": n.permission_required,
                    "known_material": n.known_material,
                    "lists": [_list_match(m) for m in lists.get(n.key, [])],
                }
            )
        summary = {
            "matches": items,
            "list_counts": [
                {"list": name, "list_owner": owner, "category": category, "count": c}
                for (name, owner, category), c in sorted(counts.items(), key=str)
            ],
            "references": refs if found is not None else 0,
            "matched_references": found.matched if found is not None else 0,
        }
        visible = set().union(*(n.visible for n in notices))
        await self._send_hit(own, visible, notices[0], summary=summary)

    async def _send_hit(
        self,
        own: Holding,
        visible: set[str],
        notice: Notice | None,
        *,
        released_by: str | None = None,
        request_id: str | None = None,
        summary: dict[str, object] | None = None,
    ) -> None:
        prefix = own.key.split(":", 1)[0]
        payload = self._store.encode(
            "eu.fed.HitNotification",
            {
                "hit_id": secrets.token_hex(8),
                "selector_type": _TYPES.get(prefix, "DEVICE_ID"),
                "selector_value": own.value,  # the owner's own value, nothing of others'
                "owner_envelope_id": own.envelope_id,
                "other_agencies": sorted(notice.visible if notice and summary else visible),
                "permission_required": bool(notice and notice.permission_required),
                "known_material": bool(notice and notice.known_material),
                "hit_key": own.key,
                "codes": codes_from_json(own.codes),
                "at": dt.datetime.now(dt.UTC),
                **(_NO_SUMMARY | (summary or {})),
            },
        )
        sent = await self.node.publish(
            payload, kind="HIT_NOTIFICATION", codes=codes_from_json(own.codes), to=[own.agency]
        )
        self.notifications += 1
        if released_by is not None and request_id is not None:
            # Reveals a restricted holder: the verifier demands that holder's grant.
            event = AuditEvent.hit_released(
                actor=self.node.agency,
                envelope_id=sent.envelope_id,
                owner=own.agency,
                released_by=released_by,
                request_id=request_id,
            )
        else:
            event = AuditEvent.hit_notified(
                actor=self.node.agency,
                envelope_id=sent.envelope_id,
                owner=own.agency,
                others=sorted(visible),
                owner_envelope=own.envelope_id,
            )
        self.node.audit.record(event)

    async def _notify_quarantines(self, entries: frozenset[tuple[str, str]]) -> None:
        """Tell each list owner, once per entry version, that its entry was quarantined."""
        for q in self.index.lists.quarantine_due(entries):
            owner = q.entry.owner
            if owner != self.node.agency:  # the hub's own list: nobody else to tell
                payload = self._store.encode("eu.fed.HitNotification", quarantine_notice(q))
                try:
                    sent = await self.node.publish(
                        payload, kind="HIT_NOTIFICATION", codes=NOTICE_CODES, to=[owner]
                    )
                except Error as exc:  # e.g. the owner left the federation: never block the hub
                    log.warning(
                        "quarantine notice for %s not sent (%s); stays due until the entry "
                        "matches again",
                        quarantine_key(q.entry),
                        exc.reason,
                    )
                    continue
                self.notifications += 1
                self.node.audit.record(
                    AuditEvent.hit_notified(
                        actor=self.node.agency,
                        envelope_id=sent.envelope_id,
                        owner=owner,
                        others=[],
                        owner_envelope=quarantine_key(q.entry),
                    )
                )
            log.info("hash-list entry %s quarantined (%d media)", quarantine_key(q.entry), q.media)
            self.index.lists.mark_quarantine_notified(q, at=dt.datetime.now(dt.UTC).isoformat())

    async def _request_release(self, key: str, owner: str) -> None:
        holdings = self.index.holdings(key)
        own = next(h for h in holdings if h.agency == owner)
        # Ask only about holders this owner was never asked about (a later holder gets a
        # request of its own); a restricted holder only ever appears behind a fresh alias.
        wanted = {h.agency for h in holdings} - {owner} - self.index.requested_parties(key, owner)
        if not wanted:
            return
        restricted = {h.agency for h in holdings if h.restricted}
        anonymous = {anonymous_alias(): agency for agency in sorted(wanted & restricted)}
        requested_for = (wanted - restricted) | set(anonymous)
        request_id = secrets.token_hex(8)
        self.index.add_release_request(
            request_id=request_id,
            key=key,
            owner=owner,
            owner_envelope_id=own.envelope_id,
            requested_for=requested_for,
            anonymous=anonymous,
        )
        payload = self._store.encode(
            "eu.fed.ReleaseRequest",
            {
                "request_id": request_id,
                "hit_key": key,
                "owner_envelope_id": own.envelope_id,
                "requested_for": sorted(requested_for),
                "at": dt.datetime.now(dt.UTC),
            },
        )
        sent = await self.node.publish(
            payload, kind="RELEASE_REQUEST", codes=codes_from_json(own.codes), to=[owner]
        )
        self.release_requests += 1
        self.node.audit.record(
            AuditEvent.release_request(
                actor=self.node.agency,
                envelope_id=sent.envelope_id,
                owner=owner,
                requested_for=sorted(wanted - restricted),
                request_id=request_id,
                anonymous=anonymous,
            )
        )

    async def _on_grant(self, sender: str, payload: bytes) -> None:
        grant = self._store.decode("eu.fed.ReleaseGrant", payload)
        request = self.index.release_request(grant["request_id"])
        if request is None:
            raise ValidationError("release grant for an unknown request")
        if request["owner"] != sender:
            raise ValidationError(
                "release grant not signed by the owner",
                detail=f"request to {request['owner']}, grant from {sender}",
            )
        if self.index.current_key(grant["hit_key"]) != request["key"]:
            raise ValidationError("release grant names another hit than the request")
        requested = {a for a in request["requested_for"].split(",") if a}
        release_to = set(grant["release_to"])
        if not release_to <= requested:
            raise ValidationError(
                "release grant widens the audience",
                detail=f"asked for {sorted(requested)}, grant names {sorted(release_to)}",
            )
        self.index.grant(grant["request_id"], release_to)
        key = request["key"]
        # An alias names a restricted holder the owner may not know: only the hub resolves it.
        for agency in sorted({self.index.resolve(grant["request_id"], a) for a in release_to}):
            before = self.index.notified_others(key, agency) or set()
            own = next(h for h in self.index.holdings(key) if h.agency == agency)
            visible = (before - {"?"}) | {sender}
            await self._send_hit(
                own, visible, None, released_by=sender, request_id=grant["request_id"]
            )
            self.index.mark_notified(key, agency, before | {sender})
