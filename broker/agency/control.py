"""The owner's commands after sending: recall, restrict, and the compliance table.

Example::

    node = AgencyNode.load(settings, agency="ES-PN", conn=conn)
    async with node:
        order = await recall(node, envelope_id, reason="Regulation (EU) 2016/794 Art. 19(2)")
    rows = compliance_table(node.control.ledger)

    $ broker recall ENVELOPE_ID --as ES-PN --reason "withdrawn by the source"
    $ broker compliance --as ES-PN
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker.agency.ledger import DEFAULT_DEADLINE, ComplianceLedger, ComplianceRow, OrderRow
from broker.agency.restrict import tightened
from broker.audit.events import AuditEvent, AuditKind
from broker.errors import ConfigError
from broker.models.codes import codes_from_json
from broker.topics import HUB

if TYPE_CHECKING:
    from broker.agency.node import AgencyNode

__all__ = [
    "ComplianceLine",
    "compliance_table",
    "current_codes",
    "extend",
    "recall",
    "restrict",
]


def _holders(node: AgencyNode, envelope_id: str) -> list[str]:
    for item in node.store.sent():
        if item.envelope_id == envelope_id and item.kind == "DOSSIER":
            return list(item.recipients)
    raise ConfigError(f"{node.agency} sent no dossier with this envelope id", detail=envelope_id)


async def recall(
    node: AgencyNode, envelope_id: str, *, reason: str, deadline: dt.timedelta = DEFAULT_DEADLINE
) -> OrderRow:
    """Order every holder of our dossier ``envelope_id`` to erase it; return the order."""
    return await node.control.issue(
        action="RECALL",
        envelope_id=envelope_id,
        holders=_holders(node, envelope_id),
        reason=reason,
        deadline=deadline,
    )


async def extend(
    node: AgencyNode, envelope_id: str, *, reason: str, deadline: dt.timedelta = DEFAULT_DEADLINE
) -> OrderRow:
    """Tell every holder our dossier was reviewed: keep it another review period."""
    return await node.control.issue(
        action="EXTEND",
        envelope_id=envelope_id,
        holders=_holders(node, envelope_id),
        reason=reason,
        deadline=deadline,
    )


def current_codes(node: AgencyNode, envelope_id: str) -> dict[str, Any]:
    """Return the codes in force on our ``envelope_id``: the last restriction, or as published.

    Read from our own audit journal (the ``PUBLISH`` event carries the signed header codes).
    """
    if node.audit_log is None:
        raise ConfigError("restricting needs the agency's audit journal (its PUBLISH event)")
    found: dict[str, Any] | None = None
    for raw in node.audit_log.journal.events():
        event = AuditEvent.from_bytes(raw)
        if event.envelope_id != envelope_id or event.codes is None:
            continue
        if event.kind in (AuditKind.PUBLISH, AuditKind.CONTROL_ORDER):
            found = dict(event.codes)
    if found is None:
        raise ConfigError("no published codes for this envelope", detail=envelope_id)
    return codes_from_json(found)


async def restrict(
    node: AgencyNode,
    envelope_id: str,
    *,
    reason: str,
    handling: Sequence[str] = (),
    tlp: str | None = None,
    pap: str | None = None,
    deadline: dt.timedelta = DEFAULT_DEADLINE,
) -> OrderRow:
    """Tighten the codes of our dossier ``envelope_id`` at every holder (widening: refused)."""
    holders = _holders(node, envelope_id)
    new = tightened(current_codes(node, envelope_id), handling=handling, tlp=tlp, pap=pap)
    return await node.control.issue(
        action="RESTRICT",
        envelope_id=envelope_id,
        holders=holders,
        reason=reason,
        codes=new,
        deadline=deadline,
    )


@dataclass(frozen=True, kw_only=True)
class ComplianceLine:
    """What was asked of one holder about one dossier, and what it answered."""

    order_id: str
    action: str
    envelope_id: str
    holder: str
    asked_at: dt.datetime
    deadline: dt.datetime
    #: DESTROYED / APPLIED / REFUSED as answered, else PENDING, or OVERDUE past the deadline.
    status: str
    ground: str | None
    answered_at: dt.datetime | None
    #: A holder the order was relayed to (a hit was released to it): who relayed it.
    via: str | None = None
    #: Another owner's order we (the hub) relayed to a restricted holder, who answers us.
    owner: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {
            "order_id": self.order_id,
            "action": self.action,
            "envelope_id": self.envelope_id,
            "holder": self.holder,
            "asked_at": self.asked_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "status": self.status,
            "ground": self.ground,
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "via": self.via,
            "owner": self.owner,
        }


def compliance_table(
    ledger: ComplianceLedger, *, now: dt.datetime | None = None
) -> list[ComplianceLine]:
    """Return one line per (order, holder): answered, pending, or overdue at ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    out = []
    for order in ledger.orders():
        answers = ledger.answers(order.order_id)
        deadline = dt.datetime.fromtimestamp(order.deadline, dt.UTC)
        relayed = ledger.downstream(order.order_id)
        for holder in [*order.holders, *(h for h in relayed if h not in order.holders)]:
            got = answers.get(holder)
            status, ground, answered = _status(got, now=now, deadline=deadline)
            out.append(
                ComplianceLine(
                    order_id=order.order_id,
                    action=order.action,
                    envelope_id=order.envelope_id,
                    holder=holder,
                    asked_at=dt.datetime.fromtimestamp(order.issued_at, dt.UTC),
                    deadline=deadline,
                    status=status,
                    ground=ground,
                    answered_at=answered,
                    via=relayed.get(holder) if holder not in order.holders else None,
                )
            )
    for row in ledger.relayed():  # the hub: restricted agencies it relayed an order to
        got = ledger.answers(row.order_id).get(row.holder)
        deadline = dt.datetime.fromtimestamp(row.deadline, dt.UTC)
        status, ground, answered = _status(got, now=now, deadline=deadline)
        out.append(
            ComplianceLine(
                order_id=row.order_id,
                action=row.action,
                envelope_id=row.envelope_id,
                holder=row.holder,
                asked_at=dt.datetime.fromtimestamp(row.at, dt.UTC),
                deadline=deadline,
                status=status,
                ground=ground,
                answered_at=answered,
                via=HUB,
                owner=row.owner,
            )
        )
    return out


def _status(
    got: ComplianceRow | None, *, now: dt.datetime, deadline: dt.datetime
) -> tuple[str, str | None, dt.datetime | None]:
    """(status, ground, answered at) of one holder: its answer, else PENDING or OVERDUE."""
    if got is not None:
        return got.status, got.ground, dt.datetime.fromtimestamp(got.at, dt.UTC)
    return ("OVERDUE" if now > deadline else "PENDING"), None, None
