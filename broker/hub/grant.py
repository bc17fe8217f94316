"""The owner's side of originator control: grant the hub's release request.

A restricted holder (H2, TLP:RED, AMBER+STRICT) receives a ``ReleaseRequest``
from the hub naming who asked: unrestricted holders by id, other restricted
holders only by an alias (``restricted-holder-<16 hex>``) that the hub resolves.
:func:`grant_release` answers it with a signed ``ReleaseGrant`` for exactly the
agencies (or aliases) the owner chooses — a subset of those requested, so
forwarding can only narrow the audience — and audits a ``RELEASE_GRANT`` in the
owner's own stream, which the audit rules require before the hub may reveal
the holder (:mod:`broker.audit.rules`, rule 3).

Example::

    async with AgencyNode.load(settings, agency="ES-PN", conn=conn) as node:
        result = await grant_release(node, request_id=rid, release_to=["DE-BKA"])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker.agency import AgencyNode, PublishResult
from broker.agency.store import AgencyStore
from broker.audit.events import AuditEvent
from broker.codec import SchemaStore
from broker.errors import ConfigError
from broker.models.codes import codes_from_json
from broker.topics import HUB

__all__ = ["ReleaseRequest", "find_release_request", "grant_release", "release_requests"]


@dataclass(frozen=True, kw_only=True)
class ReleaseRequest:
    """A release request as the owner received it, with the codes it travelled under."""

    request_id: str
    hit_key: str
    owner_envelope_id: str
    requested_for: list[str]
    codes: dict[str, Any]
    #: Who asked: the hub, or an agency whose reply to a request needs the release
    #: (:mod:`broker.requests.consent`); the grant goes back to it.
    sender: str = HUB


def release_requests(store: AgencyStore) -> list[ReleaseRequest]:
    """Return every release request this agency received (after ``broker inbox``)."""
    codec = SchemaStore.default()
    out = []
    for item in store.inbox(kind="RELEASE_REQUEST"):
        req = codec.decode("eu.fed.ReleaseRequest", item.payload)
        out.append(
            ReleaseRequest(
                request_id=req["request_id"],
                hit_key=req["hit_key"],
                owner_envelope_id=req["owner_envelope_id"],
                requested_for=list(req["requested_for"]),
                codes=codes_from_json(item.provenance["codes"]),
                sender=item.sender,
            )
        )
    return out


def find_release_request(store: AgencyStore, *, agency: str, request_id: str) -> ReleaseRequest:
    """Return the request ``request_id`` received by ``agency``; a clear error if there is none."""
    for request in release_requests(store):
        if request.request_id == request_id:
            return request
    raise ConfigError(f"no release request {request_id!r} received by {agency}")


async def grant_release(
    node: AgencyNode,
    *,
    request_id: str,
    release_to: Sequence[str],
    hub: str | None = None,
) -> PublishResult:
    """Send the asker (``hub``; default: who sent the request) a signed ``ReleaseGrant``."""
    request = find_release_request(node.store, agency=node.agency, request_id=request_id)
    targets = sorted(set(release_to))
    payload = SchemaStore.default().encode(
        "eu.fed.ReleaseGrant",
        {
            "request_id": request_id,
            "hit_key": request.hit_key,
            "release_to": targets,
            "at": dt.datetime.now(dt.UTC),
        },
    )
    result = await node.publish(
        payload, kind="RELEASE_GRANT", codes=request.codes, to=[hub or request.sender]
    )
    node.audit.record(
        AuditEvent.grant(
            actor=node.agency,
            envelope_id=result.envelope_id,
            release_to=targets,
            request_id=request_id,
        )
    )
    return result
