"""Rule 5 of the audit replay: a recall with no DESTROYED from a holder past its deadline.

The owner's ``CONTROL_ORDER`` event (in its own stream, ``parties = [owner, *holders]``,
``ref`` = the order id, ``outcome`` = ``"recall due <YYYY-MM-DDTHH:MM:SSZ>"``) asks every
holder; each holder's answer is a ``COMPLIANCE`` event *in the holder's own stream*
(``parties = [owner, holder]``, same ``ref``, ``outcome`` ``destroyed`` / ``applied`` /
``refused`` with the ground in ``reason``). The owner's copy of an answer (written in
the owner's stream when the signed receipt arrives) is never the evidence. As for the
other rules, an event not covered by a signed checkpoint never satisfies the rule.
The deadline is judged against the replay's newest anchored time.

A recall also binds every agency the hub relayed it to (an agency a hit on the dossier
was released to): the relaying holder's ``CONTROL_RELAY`` event *in its own stream*
(``parties = [owner, agency]``, same ``ref``, ``outcome`` ``relayed``, or
``relayed-restricted`` when the agency's own holding is restricted and it answers the hub)
adds that agency to the order's holders, with the owner's deadline. Its evidence is the
same: a ``destroyed`` ``COMPLIANCE`` event in its own stream — whoever its receipt was
sealed to (the hub's copy of a restricted agency's answer never counts, as the owner's).
A relay event counts only when anchored and written by the hub (``hub``, EUROPOL) as a holder
the owner's order names: a direct recipient cannot make another agency look overdue.

Example::

    >>> import datetime as dt
    >>> rule = RecallRule()
    >>> at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> rule.add({"kind": "CONTROL_ORDER", "stream": "ES-PN", "parties": ["ES-PN", "EUROPOL"],
    ...           "ref": "o1", "envelope_id": "e1", "outcome": "recall due 2026-01-02T00:00:00Z",
    ...           "reason": None}, pos="0:1", seq=0, at=at)
    >>> [d for _, _, d in rule.violations(lambda stream, seq: True, at + dt.timedelta(days=2))]
    ['recall o1 of e1 by ES-PN: no DESTROYED from EUROPOL by its deadline 2026-01-02T00:00:00Z']
    >>> rule.add({"kind": "CONTROL_RELAY", "stream": "EUROPOL", "parties": ["ES-PN", "NL-POL"],
    ...           "ref": "o1", "envelope_id": "e1", "outcome": "relayed", "reason": None},
    ...          pos="1:4", seq=3, at=at)
    >>> [h for h, _, _ in rule.violations(lambda stream, seq: True, at + dt.timedelta(days=2))]
    ['EUROPOL', 'NL-POL']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.audit.events import AuditEvent, AuditKind
from broker.topics import HUB

__all__ = [
    "RELAYED",
    "RELAYED_RESTRICTED",
    "RecallRule",
    "compliance_event",
    "control_order_event",
    "relay_event",
    "retention_event",
]

_PREFIX = "recall due "
#: ``CONTROL_RELAY`` outcomes: the agency answers the owner, or (restricted) the relaying hub.
RELAYED = "relayed"
RELAYED_RESTRICTED = "relayed-restricted"

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


def relay_event(
    *,
    actor: str,
    envelope_id: str,
    owner: str,
    holder: str,
    order_id: str,
    restricted: bool,
) -> AuditEvent:
    """``actor`` (the hub) relayed ``owner``'s order ``order_id`` to ``holder``.

    ``restricted``: ``holder``'s own holding is restricted, so it answers ``actor``.
    """
    return AuditEvent.new(
        AuditKind.CONTROL_RELAY,
        actor=actor,
        envelope_id=envelope_id,
        parties=[owner, holder],
        outcome=RELAYED_RESTRICTED if restricted else RELAYED,
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


@dataclass(frozen=True)
class _Relay:
    relayer: str
    holder: str
    restricted: bool
    seq: int


@dataclass
class RecallRule:
    """Collects orders and answers while the log is replayed; reports what is overdue."""

    orders: dict[str, list[_Order]] = field(default_factory=dict)
    #: (order id, holder) -> [(outcome, ground, stream, seq)] written by the holder itself.
    answers: dict[tuple[str, str], list[tuple[str, str | None, str, int]]] = field(
        default_factory=dict
    )
    #: order id -> the agencies a holder (the hub) relayed it to, from its own stream.
    relays: dict[str, list[_Relay]] = field(default_factory=dict)
    #: The newest ``at`` of any order or answer seen (a reference time when nothing newer).
    newest: dt.datetime | None = None
    #: The one member that relays orders (to the agencies it released hits to).
    hub: str = HUB

    def add(self, rec: dict[str, Any], *, pos: str, seq: int, at: dt.datetime | None) -> None:
        """Note one decoded event read at ``pos`` (``partition:offset``)."""
        kind, stream, parties = rec["kind"], rec["stream"], rec["parties"]
        ref, outcome = rec.get("ref"), rec.get("outcome") or ""
        if kind not in ("CONTROL_ORDER", "COMPLIANCE", "CONTROL_RELAY") or not ref or not parties:
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
        elif kind == "CONTROL_RELAY" and len(parties) == 2 and parties[1] != stream:
            self.relays.setdefault(ref, []).append(
                _Relay(
                    relayer=stream,
                    holder=parties[1],
                    restricted=outcome == RELAYED_RESTRICTED,
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
                for holder, via in self._holders(order_id, order, ok):
                    got = [a for a in self.answers.get((order_id, holder), []) if ok(a[2], a[3])]
                    if any(outcome == "destroyed" for outcome, *_ in got):
                        continue
                    refused = [g for outcome, g, *_ in got if outcome == "refused"]
                    due = order.deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
                    detail = (
                        f"recall {order_id} of {order.envelope_id} by {order.owner}: "
                        f"no DESTROYED from {holder}{via} by its deadline {due}"
                    )
                    if refused:
                        detail += f" (refused: {refused[0] or 'no ground'})"
                    out.append((holder, order.where, detail))
        return out

    def _holders(
        self, order_id: str, order: _Order, ok: Callable[[str, int], bool]
    ) -> list[tuple[str, str]]:
        """The order's holders, then the agencies a holder relayed it to: (holder, note)."""
        out = {holder: "" for holder in order.holders}
        for relay in self.relays.get(order_id, []):
            if (
                relay.holder in out
                or relay.holder == order.owner
                or relay.relayer != self.hub
                or relay.relayer not in order.holders
                or relay.relayer == order.owner
                or not ok(relay.relayer, relay.seq)
            ):
                continue
            answers = f", answers {relay.relayer}" if relay.restricted else ""
            out[relay.holder] = f" (relayed by {relay.relayer}{answers})"
        return list(out.items())
