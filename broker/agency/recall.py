"""Recall and restrict after sending: the owner's orders and each holder's signed answer.

Owner side (:meth:`ControlDesk.issue`): a ``ControlOrder`` (``eu.fed.ControlOrder``,
envelope kind ``CONTROL``, signed by the owner like every envelope) goes to every
holder of a sent dossier — its recipients, the hub among them — and is kept in the
:class:`~broker.agency.ledger.ComplianceLedger` with its deadline (default 24 h).

Holder side (:meth:`ControlDesk.take`, called by the inbox before any handler):

* the order must be signed by the owner it names (``NotOwnerError`` otherwise: dead-
  lettered, no answer); erasures are keyed by (owner, envelope id), so an agency can
  only ever recall its own dossiers;
* ``RECALL``: ONE transaction erases the stored row and any pending hand-over, and
  writes the tombstone (``recalled``) that refuses the dossier from any later Kafka copy
  (:meth:`ControlDesk.refuse_recalled`, checked on every opened envelope:
  ``RecalledError``); then every registered eraser runs (the at-rest key store destroys
  the dossier's key; the hub drops its index entries and pending release requests);
  the answer is ``DESTROYED``;
* ``RESTRICT``: the new codes must be at least as tight as those in force
  (:func:`broker.agency.restrict.is_tightening`), else ``REFUSED`` with the ground
  ``restriction-widens``; applied, they are recorded and every registered restrictor
  runs (the hub re-evaluates originator control); the answer is ``APPLIED``;
* the answer is a signed ``ComplianceReceipt`` (kind ``COMPLIANCE``) sealed to the owner,
  acknowledged with the batch, and a ``COMPLIANCE`` audit event in the holder's stream.

The owner records each answer it receives (checked: signed by the holder it names, for
an order it issued to that holder) and audits it; ``broker compliance`` shows the table.

Example::

    >>> ControlDesk.ORDER, ControlDesk.RECEIPT
    ('eu.fed.ControlOrder', 'eu.fed.ComplianceReceipt')
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Callable, Container, Iterable
from typing import Any

from broker.agency.answers import record_answer, send_answer
from broker.agency.batch import Settlement
from broker.agency.ledger import DEFAULT_DEADLINE, ComplianceLedger, OrderRow
from broker.agency.publisher import Publisher
from broker.agency.relay import Downstream, RelayCopy, note_relayed, sign_relay_copy
from broker.agency.restrict import control_codes
from broker.agency.review import DEFAULT_REVIEW_PERIOD, due, extend_review
from broker.agency.store import AgencyStore
from broker.audit.compliance import control_order_event, retention_event
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.codec import SchemaStore
from broker.envelope import OpenedEnvelope
from broker.envelope.format import Header
from broker.errors import ConfigError, Error, NotOwnerError, RecalledError, ValidationError
from broker.models.codes import codes_from_json
from broker.topics import HUB

log = logging.getLogger(__name__)
#: What the hub relays to agencies a hit was released to (an EXTEND concerns holders only).
RELAYED_ACTIONS = ("RECALL", "RESTRICT")

__all__ = ["ControlDesk", "Eraser", "Relayer", "Restrictor"]

#: Erases what derives from (owner, envelope id) in one holder's state; returns items erased.
Eraser = Callable[[str, str], int]
#: Puts new codes in force on (owner, envelope id) in one holder's derived state.
Restrictor = Callable[[str, str, dict[str, Any]], None]
#: The copies of an order to relay (the hub's: to whom a hit on the dossier was released).
Relayer = Callable[[dict[str, Any]], list[RelayCopy]]


class ControlDesk:
    """One agency's side of recall and restriction (see the module docstring)."""

    ORDER = "eu.fed.ControlOrder"
    RECEIPT = "eu.fed.ComplianceReceipt"

    def __init__(
        self, *, agency: str, ledger: ComplianceLedger, publisher: Publisher, audit: AuditSink
    ) -> None:
        self.agency = agency
        self.ledger = ledger
        self._publisher = publisher
        self._audit = audit
        self._schemas = SchemaStore.default()
        #: Extra erasers (the at-rest key store, the hub's index), run after the store's.
        self.erasers: list[Eraser] = []
        #: Extra restrictors (the hub's index), run when a restriction is applied.
        self.restrictors: list[Restrictor] = []
        #: Relayers (the hub's), run before a recall or restriction is applied here.
        self.relayers: list[Relayer] = []
        #: This agency's side of an order the hub relayed to it (:mod:`broker.agency.relay`).
        self.downstream: Downstream | None = None
        #: The federation's retention review period (``Settings.review_period_s``).
        self.review_period = DEFAULT_REVIEW_PERIOD
        #: Seconds between two retention sweeps of an idle inbox.
        self.review_every = 10.0
        self._swept = -float("inf")

    @classmethod
    def beside(cls, store: AgencyStore, *, publisher: Publisher, audit: AuditSink) -> ControlDesk:
        """Return the desk of ``store``'s agency, its ledger beside the store file.

        A recall destroys the dossier's at-rest key too (when the store has a vault).
        """
        desk = cls(
            agency=publisher.agency,
            ledger=ComplianceLedger.open(store.path),
            publisher=publisher,
            audit=audit,
        )
        if store.vault is not None:
            desk.erasers.append(store.vault.destroy)
        desk.downstream = Downstream(
            agency=publisher.agency,
            store=store,
            ledger=desk.ledger,
            publisher=publisher,
            trust=publisher.trust,
        )
        return desk

    # -- owner side ------------------------------------------------------------------------

    async def issue(
        self,
        *,
        action: str,
        envelope_id: str,
        holders: list[str],
        reason: str,
        codes: dict[str, Any] | None = None,
        deadline: dt.timedelta = DEFAULT_DEADLINE,
    ) -> OrderRow:
        """Sign and send one order about our ``envelope_id`` to ``holders``; return it."""
        if not reason.strip():
            raise ConfigError("a recall or restriction needs a reason (its legal ground)")
        if not holders:
            raise ConfigError("nobody holds this dossier", detail=envelope_id)
        now = dt.datetime.now(dt.UTC)
        # Whole seconds, as the audit event states it: the table and rule 5 agree to the second.
        due = (now + deadline + dt.timedelta(microseconds=999_999)).replace(microsecond=0)
        order = OrderRow(
            order_id=secrets.token_hex(16),
            action=action,
            envelope_id=envelope_id,
            holders=sorted(set(holders)),
            reason=reason,
            issued_at=now.timestamp(),
            deadline=due.timestamp(),
        )
        record: dict[str, Any] = {
            "order_id": order.order_id,
            "action": action,
            "envelope_id": envelope_id,
            "owner": self.agency,
            "holders": order.holders,
            "reason": reason,
            "codes": codes,
            "deadline": due,
            "at": now,
            "relay": None,
        }
        if HUB in order.holders and action in RELAYED_ACTIONS:  # hits released through the hub
            record["relay"] = sign_relay_copy(record, identity=self._publisher.identity)
        payload = self._schemas.encode(self.ORDER, record)
        self.ledger.add_order(order, codes=codes)
        await self._publisher.publish(
            [payload],
            kind="CONTROL",
            codes=codes or control_codes(now),
            to=order.holders,
            batch_signature=False,
        )
        self._audit.record(
            control_order_event(
                actor=self.agency,
                envelope_id=envelope_id,
                action=action,
                holders=order.holders,
                order_id=order.order_id,
                deadline=due,
                codes=codes,
            )
        )
        return order

    # -- both sides, from the inbox --------------------------------------------------------

    def recalled_among(self, opened: Iterable[OpenedEnvelope | Error]) -> set[tuple[str, str]]:
        """Return the recalled (sender, envelope id) of a batch's opened envelopes: ONE query."""
        return self.ledger.recalled_among(
            [(o.header.sender, o.header.envelope_id) for o in opened if not isinstance(o, Error)]
        )

    def refuse_recalled(
        self, header: Header, *, among: Container[tuple[str, str]] | None = None
    ) -> None:
        """Raise :class:`RecalledError` if ``header``'s envelope was recalled by its sender.

        ``among``: the batch's recalled keys from :meth:`recalled_among` (else one query).
        """
        key = (header.sender, header.envelope_id)
        if key in among if among is not None else self.ledger.is_recalled(*key):
            raise RecalledError(
                "envelope recalled by its owner",
                detail=f"{header.sender} recalled {header.envelope_id}",
            )

    async def take(self, opened: OpenedEnvelope, *, work: Settlement) -> None:
        """Apply a ``CONTROL`` order or record a ``COMPLIANCE`` answer; nothing for other kinds."""
        if opened.header.kind == "CONTROL":
            await self._apply(opened, work)
        elif opened.header.kind == "COMPLIANCE":
            record_answer(self.ledger, agency=self.agency, opened=opened, work=work)

    # -- holder side -----------------------------------------------------------------------

    async def _apply(self, opened: OpenedEnvelope, work: Settlement) -> None:
        if self.downstream is not None and self.downstream.is_relayed(opened):
            await self.downstream.apply(opened, work)  # the hub relays a released hit's order
            return
        order = self._schemas.decode(self.ORDER, opened.payload)
        owner, envelope_id = order["owner"], order["envelope_id"]
        if owner != opened.header.sender:
            raise NotOwnerError(
                "control order not signed by the owner it names",
                detail=f"signed by {opened.header.sender}",
            )
        if self.agency not in order["holders"]:
            raise ValidationError("control order that does not name this holder")
        before = self.ledger.answered(order["order_id"])
        relayed_to: list[str] = []
        if before is None and order["relay"] is not None:  # before the index forgets who
            relayed_to = await self._relay(order, opened.header, work)
        if before is not None:  # a second copy of an order already carried out: answer again
            status, ground = before
            held, erased = True, 0
        elif order["action"] == "RECALL":
            held, erased = self._erase(owner, envelope_id, order["order_id"])
            status, ground = "DESTROYED", None
        elif order["action"] == "EXTEND":
            held, erased = self._extend(owner, envelope_id, order["order_id"], work), 0
            status, ground = "APPLIED", None
        else:
            held, status, ground = self._restrict(owner, envelope_id, order)
            erased = 0
        await send_answer(
            self._publisher,
            agency=self.agency,
            order=order,
            answer=(status, ground),
            held=held,
            erased=erased,
            to=owner,
            codes=opened.header.codes,
            work=work,
            relayed_to=relayed_to,
        )

    async def _relay(self, order: dict[str, Any], header: Header, work: Settlement) -> list[str]:
        """Send every relayer's copies of ``order``; return those the owner may learn of."""
        named = []
        for relayer in self.relayers:
            for copy in relayer(order):
                try:
                    work.receipts.append(
                        await self._publisher.send(
                            [copy.payload],
                            kind="CONTROL",
                            codes=header.codes,
                            to=[copy.to],
                            batch_signature=False,
                        )
                    )
                except Error as exc:  # e.g. it left the federation: never block the order
                    log.warning("order %s not relayed to %s: %s", order["order_id"], copy.to, exc)
                    continue
                work.audit.append(note_relayed(self.ledger, order, copy, agency=self.agency))
                if copy.named:
                    named.append(copy.to)
        return named

    def sweep_retention(self, *, now: float | None = None) -> list[AuditEvent]:
        """Erase every held dossier past its retention review; return the audit events.

        Without ``now`` (the inbox, when idle) at most once per :attr:`review_every` seconds.
        """
        if now is None:
            if time.monotonic() - self._swept < self.review_every:
                return []
            self._swept, now = time.monotonic(), time.time()
        events = []
        for owner, envelope_id, review in due(self.ledger.db, now=now, period=self.review_period):
            self._erase(owner, envelope_id, f"retention-{envelope_id}", action="RETENTION")
            events.append(
                retention_event(
                    actor=self.agency,
                    envelope_id=envelope_id,
                    owner=owner,
                    outcome="expired",
                    review=review,
                )
            )
        return events

    def _extend(
        self,
        owner: str,
        envelope_id: str,
        order_id: str,
        work: Settlement,
        *,
        now: float | None = None,
    ) -> bool:
        """Restart a held dossier's review period (its owner reviewed it); return if held."""
        until = (time.time() if now is None else now) + self.review_period.total_seconds()
        held = extend_review(
            self.ledger, owner=owner, envelope_id=envelope_id, order=order_id, until=until
        )
        review = dt.datetime.fromtimestamp(until, dt.UTC).date().isoformat()
        work.audit.append(
            retention_event(
                actor=self.agency,
                envelope_id=envelope_id,
                owner=owner,
                outcome="extended",
                review=review,
            )
        )
        return held

    def _erase(
        self, owner: str, envelope_id: str, order_id: str, *, action: str = "RECALL"
    ) -> tuple[bool, int]:
        """Erase the stored dossier, tombstone it, run the erasers: (held, items erased)."""
        with self.ledger.transaction() as db:
            held = (
                db.execute(
                    "SELECT 1 FROM seen WHERE sender = ? AND envelope_id = ?", (owner, envelope_id)
                ).fetchone()
                is not None
            )
            erased = self.ledger.tombstone(
                db, sender=owner, envelope_id=envelope_id, order_id=order_id
            )
            self.ledger.note_answer(
                db,
                order_id=order_id,
                owner=owner,
                envelope_id=envelope_id,
                action=action,
                status="DESTROYED",
                ground=None,
            )
        for eraser in self.erasers:
            erased += eraser(owner, envelope_id)
        return held or erased > 0, erased

    def _restrict(
        self, owner: str, envelope_id: str, order: dict[str, Any]
    ) -> tuple[bool, str, str | None]:
        """Put tighter codes in force: (held, status, ground)."""
        new = order["codes"]
        if new is None:
            raise ValidationError("restriction without codes")
        current = self.ledger.restricted_codes(owner, envelope_id)
        held = current is not None
        if current is None:
            row = self.ledger.db.execute(
                "SELECT provenance FROM inbox WHERE sender = ? AND envelope_id = ?",
                (owner, envelope_id),
            ).fetchone()
            if row is not None:
                current = codes_from_json(json.loads(row[0])["codes"])
                held = True
        status, ground = self.ledger.record_restriction(
            owner=owner,
            envelope_id=envelope_id,
            order_id=order["order_id"],
            new=new,
            current=current,
        )
        if status == "APPLIED":
            for restrictor in self.restrictors:
                restrictor(owner, envelope_id, new)
        return held, status, ground
