"""The owner's side of compliance: each holder's signed answer, checked and recorded.

An answer (``eu.fed.ComplianceReceipt``, envelope kind ``COMPLIANCE``) must be signed by
the holder it names, for an order we sent to that holder — or, with ``via``, for an order
our holder ``via`` (the hub) relayed to it (:mod:`broker.agency.relay`), who then joins the
order's holders in our table. The hub keeps the answers of restricted downstream holders
(whom it may not name to the owner) for the orders it relayed.

Example::

    >>> RECEIPT
    'eu.fed.ComplianceReceipt'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from broker.agency.batch import Settlement
from broker.agency.ledger import ComplianceLedger, ComplianceRow, OrderRow
from broker.agency.publisher import Publisher
from broker.audit.compliance import compliance_event
from broker.codec import SchemaStore
from broker.envelope import OpenedEnvelope
from broker.errors import ValidationError
from broker.topics import HUB

__all__ = ["RECEIPT", "record_answer", "send_answer"]

RECEIPT = "eu.fed.ComplianceReceipt"


async def send_answer(
    publisher: Publisher,
    *,
    agency: str,
    order: dict[str, Any],
    answer: tuple[str, str | None],
    held: bool,
    erased: int,
    to: str,
    codes: dict[str, Any],
    work: Settlement,
    via: str | None = None,
    relayed_to: Sequence[str] = (),
) -> None:
    """Answer ``order`` (``answer`` = status, ground): the holder's signed receipt to ``to``
    (the owner, or the relaying hub), and our own ``COMPLIANCE`` audit event.
    """
    status, ground = answer
    owner, envelope_id = order["owner"], order["envelope_id"]
    receipt = SchemaStore.default().encode(
        RECEIPT,
        {
            "order_id": order["order_id"],
            "action": order["action"],
            "envelope_id": envelope_id,
            "owner": owner,
            "holder": agency,
            "status": status,
            "ground": ground,
            "held": held,
            "erased": erased,
            "at": dt.datetime.now(dt.UTC),
            "via": via,
            "relayed_to": sorted(relayed_to),
        },
    )
    sent = await publisher.send(
        [receipt], kind="COMPLIANCE", codes=codes, to=[to], batch_signature=False
    )
    work.receipts.append(sent)
    work.audit.append(
        compliance_event(
            actor=agency,
            envelope_id=envelope_id,
            owner=owner,
            holder=agency,
            status=status,
            ground=ground,
            order_id=order["order_id"],
        )
    )


def record_answer(
    ledger: ComplianceLedger, *, agency: str, opened: OpenedEnvelope, work: Settlement
) -> None:
    """Check and record a holder's signed answer to one of our orders (or one we relayed)."""
    rec = SchemaStore.default().decode(RECEIPT, opened.payload)
    holder = opened.header.sender
    if rec["holder"] != holder:
        raise ValidationError(
            "compliance receipt signed by someone else than the holder it names",
            detail=f"signed by {holder}",
        )
    order = ledger.order(rec["order_id"])
    if order is None and rec["via"] == agency:
        owner, envelope_id = _relayed_by_us(ledger, rec, holder=holder)
    else:
        owner, envelope_id = (
            agency,
            _ordered_by_us(ledger, rec, order, agency=agency, holder=holder),
        )
    _keep(
        ledger,
        rec,
        agency=agency,
        owner=owner,
        envelope_id=envelope_id,
        holder=holder,
        opened=opened,
        work=work,
    )


def _ordered_by_us(
    ledger: ComplianceLedger,
    rec: dict[str, Any],
    order: OrderRow | None,
    *,
    agency: str,
    holder: str,
) -> str:
    """Check an answer to one of our orders; note who the hub relayed it to; return its dossier.

    From a holder we sent the order to, or one the hub relayed it to (only the hub relays).
    """
    via = rec["via"]
    sent_to = holder if via is None else via
    if (
        order is None
        or rec["owner"] != agency
        or sent_to not in order.holders
        or via not in (None, HUB)
    ):
        raise ValidationError(
            "compliance receipt for an order we did not send to its signer",
            detail=f"order {rec['order_id']} from {holder}",
        )
    if via is not None:
        ledger.add_downstream(order.order_id, holders=[holder], via=via)
    relayed = rec["relayed_to"] if holder == HUB else []
    if relayed:
        ledger.add_downstream(order.order_id, holders=relayed, via=holder)
    return order.envelope_id


def _relayed_by_us(
    ledger: ComplianceLedger, rec: dict[str, Any], *, holder: str
) -> tuple[str, str]:
    """Check a restricted downstream holder's answer to an order we (the hub) relayed;
    return the order's (owner, dossier).

    Only from an agency we relayed that very order to, about that order's dossier: any
    other signer could otherwise fill our ledger (and audit) with answers nobody asked for.
    """
    relay = ledger.relayed_to(rec["order_id"], holder)
    if relay is None or (rec["owner"], rec["envelope_id"], rec["action"]) != (
        relay.owner,
        relay.envelope_id,
        relay.action,
    ):
        raise ValidationError(
            "compliance receipt for an order we did not relay to its signer",
            detail=f"order {rec['order_id']} from {holder}",
        )
    return relay.owner, relay.envelope_id


def _keep(
    ledger: ComplianceLedger,
    rec: dict[str, Any],
    *,
    agency: str,
    owner: str,
    envelope_id: str,
    holder: str,
    opened: OpenedEnvelope,
    work: Settlement,
) -> None:
    """Store ``holder``'s answer ``rec`` and audit it (a ``COMPLIANCE`` event of ours)."""
    ledger.record_compliance(
        ComplianceRow(
            order_id=rec["order_id"],
            holder=holder,
            status=rec["status"],
            ground=rec["ground"],
            held=rec["held"],
            erased=rec["erased"],
            at=rec["at"].timestamp(),
            receipt_id=opened.header.envelope_id,
        )
    )
    work.audit.append(
        compliance_event(
            actor=agency,
            envelope_id=envelope_id,
            owner=owner,
            holder=holder,
            status=rec["status"],
            ground=rec["ground"],
            order_id=rec["order_id"],
        )
    )
