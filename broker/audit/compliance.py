"""Rule 5 of the audit replay: a recall with no DESTROYED from a holder past its deadline.

The owner's ``CONTROL_ORDER`` event (in its own stream, ``parties = [owner, *holders]``,
``ref`` = the order id, ``outcome`` = ``"recall due <YYYY-MM-DDTHH:MM:SSZ>"``) asks every
holder; each holder's answer is a ``COMPLIANCE`` event *in the holder's own stream*
(``parties = [owner, holder]``, same ``ref``, ``outcome`` ``destroyed`` / ``applied`` /
``refused`` with the ground in ``reason``). The owner's copy of an answer (written in
the owner's stream when the signed receipt arrives) is never the evidence. As for the
other rules, an event not covered by a signed checkpoint never satisfies the rule.
The deadline is judged against the replay's newest anchored time.

Example::

    >>> import datetime as dt
    >>> rule = RecallRule()
    >>> at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> rule.add({"kind": "CONTROL_ORDER", "stream": "ES-PN", "parties": ["ES-PN", "DE-BKA"],
    ...           "ref": "o1", "envelope_id": "e1", "outcome": "recall due 2026-01-02T00:00:00Z",
    ...           "reason": None}, pos="0:1", seq=0, at=at)
    >>> [d for _, _, d in rule.violations(lambda stream, seq: True, at + dt.timedelta(days=2))]
    ['recall o1 of e1 by ES-PN: no DESTROYED from DE-BKA by its deadline 2026-01-02T00:00:00Z']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.audit.events import AuditEvent, AuditKind

__all__ = ["RecallRule", "compliance_event", "control_order_event", "retention_event"]

_PREFIX = "recall due "

# -- the events (the vocabulary the rule reads) --------------------------------------------


def control_order_event(
    *,
    actor: str,
    envelope_id: str,
    action: str,
    holders: Sequence[str],
    order_id: str,
    deadline: dt.datetime,
    codes: dict[str, Any] | None = None,
) -> AuditEvent:
    """``actor`` (the owner) ordered ``holders`` to RECALL / RESTRICT its ``envelope_id``.

    ``outcome`` is ``"<action> due <deadline, ISO 8601 UTC>"`` (the rule of
    :mod:`broker.audit.compliance` reads it).
    """
    due = deadline.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return AuditEvent.new(
        AuditKind.CONTROL_ORDER,
        actor=actor,
        envelope_id=envelope_id,
        parties=[actor, *holders],
        outcome=f"{action.lower()} due {due}",
        codes=codes,
        message_kind="DOSSIER",
        ref=order_id,
    )


def compliance_event(
    *,
    actor: str,
    envelope_id: str,
    owner: str,
    holder: str,
    status: str,
    ground: str | None,
    order_id: str,
) -> AuditEvent:
    """``holder`` answered ``owner``'s order: written by the holder, and by the owner."""
    return AuditEvent.new(
        AuditKind.COMPLIANCE,
        actor=actor,
        envelope_id=envelope_id,
        parties=[owner, holder],
        outcome=status.lower(),
        reason=ground,
        message_kind="DOSSIER",
        ref=order_id,
    )


def retention_event(
    *, actor: str, envelope_id: str, owner: str, outcome: str, review: str
) -> AuditEvent:
    """``actor`` erased (``expired``) or extended (``extended``) a dossier at its review."""
    return AuditEvent.new(
        AuditKind.RETENTION,
        actor=actor,
        envelope_id=envelope_id,
        parties=[owner, actor],
        outcome=outcome,
        message_kind="DOSSIER",
        ref=review,
    )


@dataclass
class _Order:
    owner: str
    envelope_id: str
    holders: list[str]
    deadline: dt.datetime
    where: str
    stream: str
    seq: int


@dataclass
class RecallRule:
    """Collects orders and answers while the log is replayed; reports what is overdue."""

    orders: dict[str, list[_Order]] = field(default_factory=dict)
    #: (order id, holder) -> [(outcome, ground, stream, seq)] written by the holder itself.
    answers: dict[tuple[str, str], list[tuple[str, str | None, str, int]]] = field(
        default_factory=dict
    )
    #: The newest ``at`` of any order or answer seen (a reference time when nothing newer).
    newest: dt.datetime | None = None

    def add(self, rec: dict[str, Any], *, pos: str, seq: int, at: dt.datetime | None) -> None:
        """Note one decoded event read at ``pos`` (``partition:offset``)."""
        kind, stream, parties = rec["kind"], rec["stream"], rec["parties"]
        ref, outcome = rec.get("ref"), rec.get("outcome") or ""
        if kind not in ("CONTROL_ORDER", "COMPLIANCE") or not ref or not parties:
            return
        if at is not None and (self.newest is None or at > self.newest):
            self.newest = at
        if kind == "CONTROL_ORDER" and parties[0] == stream and outcome.startswith(_PREFIX):
            try:
                deadline = dt.datetime.strptime(
                    outcome.removeprefix(_PREFIX), "%Y-%m-%dT%H:%M:%SZ"
                ).replace(tzinfo=dt.UTC)
            except ValueError:
                return
            self.orders.setdefault(ref, []).append(
                _Order(
                    owner=stream,
                    envelope_id=rec.get("envelope_id") or "",
                    holders=list(dict.fromkeys(parties[1:])),
                    deadline=deadline,
                    where=pos,
                    stream=stream,
                    seq=seq,
                )
            )
        elif kind == "COMPLIANCE" and len(parties) == 2 and parties[1] == stream:
            self.answers.setdefault((ref, stream), []).append(
                (outcome, rec.get("reason"), stream, seq)
            )

    def violations(
        self, ok: Callable[[str, int], bool], reference: dt.datetime | None
    ) -> list[tuple[str, str, str]]:
        """Return ``(stream, where, detail)`` for every holder silent or refusing past due."""
        reference = reference or self.newest
        if reference is None:
            return []
        out = []
        for order_id, orders in self.orders.items():
            for order in orders:
                if not ok(order.stream, order.seq) or reference <= order.deadline:
                    continue
                for holder in order.holders:
                    got = [a for a in self.answers.get((order_id, holder), []) if ok(a[2], a[3])]
                    if any(outcome == "destroyed" for outcome, *_ in got):
                        continue
                    refused = [g for outcome, g, *_ in got if outcome == "refused"]
                    due = order.deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
                    detail = (
                        f"recall {order_id} of {order.envelope_id} by {order.owner}: "
                        f"no DESTROYED from {holder} by its deadline {due}"
                    )
                    if refused:
                        detail += f" (refused: {refused[0] or 'no ground'})"
                    out.append((holder, order.where, detail))
        return out
