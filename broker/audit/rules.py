"""Semantic rules across audit streams: what the events say must hang together.

Cross-stream order is not defined by Kafka (streams live in different
partitions), so the rules are decided once the whole log is read, with each
stream's *anchored size* (the largest checkpoint whose signed root matched):
an event at ``seq >= anchored`` is not covered by a signed checkpoint and may have
been appended by anyone who can write the topic. Such an event can still *break*
a rule (it is shown), but it never *satisfies* one: it is never the evidence a
rule asks for.

1. every ``DELIVER`` (only the router's count) has an anchored ``PUBLISH`` by the
   sender, in the sender's own stream, listing that recipient, over the same
   envelope bytes (SHA-256);
2. every ``OPEN`` follows an anchored ``DELIVER`` of the same bytes to the agency
   that opened it (allowing :data:`CLOCK_SKEW` between nodes' clocks);
3. no restricted holder is named without its grant, whatever the hub calls the
   notification: for every ``HIT_NOTIFICATION`` written in stream ``H`` (the hub)
   with ``parties = [H, N, *named]``, each named holder ``X`` (``X`` not ``N``
   nor ``H``) that is *restricted* needs an anchored ``RELEASE_GRANT`` in ``X``'s
   own stream naming ``N``, for a request ``H`` addressed to ``X`` (an anchored
   ``RELEASE_REQUEST`` in ``H`` with ``parties[1] = X`` and the same ``ref``) or
   for the notification's own ``ref``. ``X`` is restricted if the notification's
   ``outcome`` is ``released``, or if (a) ``X``'s anchored ``PUBLISH`` of a
   ``DOSSIER`` to ``H`` carries codes that need the originator's consent (``H2``,
   ``TLP:RED`` or ``TLP:AMBER+STRICT``: the owner's own signed word) or (b) ``H``
   asked ``X`` for a release (an anchored ``RELEASE_REQUEST`` to ``X``) — and ``X``
   gave ``H`` no anchored ``DOSSIER`` needing no consent (then the events cannot
   tell which holding matched). Neither the ``outcome`` label nor the number of
   parties exempts a notification;
4. every ``DELIVER`` is answered by the recipient: an anchored ``OPEN`` or
   ``REJECT`` of that envelope in the recipient's stream, unless the delivery
   is less than :data:`DELIVERY_GRACE` older than the replay's newest anchored
   time: the newest signed checkpoint time of any stream, or the newest ``at`` of an
   anchored ``PUBLISH``, ``DELIVER``, ``OPEN``, ``REJECT`` or ``HIT_NOTIFICATION``,
   whichever is later;
5. every recall is answered ``DESTROYED`` by every holder it names by its deadline
   (:mod:`broker.audit.compliance`).

Example::

    >>> from broker.audit.verify import RawRecord
    >>> book = RuleBook()
    >>> book.add({"kind": "OPEN", "stream": "DE-BKA", "seq": 0, "envelope_id": "e1",
    ...           "envelope_sha256": b"h", "parties": ["ES-PN", "DE-BKA"], "at": None},
    ...          RawRecord(partition=0, offset=7, key=None, value=b""))
    >>> [detail for _, _, detail in book.violations()]
    ['DE-BKA opened envelope e1 that was never delivered to it']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from broker.audit.compliance import RecallRule
from broker.topics import ROUTER

__all__ = ["CLOCK_SKEW", "DELIVERY_GRACE", "RuleBook"]

#: How far apart two nodes' clocks may be before "follows" is judged false.
CLOCK_SKEW = dt.timedelta(seconds=30)
#: How long a recipient may take to open (or reject) a delivery before its silence is a
#: finding (rule 4), measured against the replay's newest anchored time.
DELIVERY_GRACE = dt.timedelta(hours=24)

_UNANCHORED = " (the only matching evidence is not covered by a signed checkpoint)"


class _Located(Protocol):
    @property
    def where(self) -> str: ...


class _At(NamedTuple):
    """Where an event sits: its stream and sequence number (for anchoring), and offset."""

    stream: str
    seq: int
    where: _Located
    at: dt.datetime | None


def _consent_required(codes: Mapping[str, Any] | None) -> bool:
    # Codes.originator_consent_required, read from the audit record's eu.fed.Codes.
    if not codes:
        return False
    return "H2" in (codes.get("handling") or ()) or codes.get("tlp") in ("RED", "AMBER_STRICT")


@dataclass
class RuleBook:
    """Collects the facts the rules need while the log is replayed."""

    published: dict[str, list[tuple[str, frozenset[str], bytes | None, _At]]] = field(
        default_factory=dict
    )
    # Keyed by (sender, envelope id): an id is the sender's choice and readable by every
    # co-recipient, so another agency re-using it must neither mask nor fake a finding (F8).
    delivered: dict[tuple[str, str, str], list[tuple[bytes | None, _At]]] = field(
        default_factory=dict
    )
    opened: list[tuple[str, str, str, bytes | None, _At]] = field(default_factory=list)
    #: Anchoring candidates for rule 4: (envelope id, agency) -> OPEN/REJECT positions.
    answered: dict[tuple[str, str], list[_At]] = field(default_factory=dict)
    granted: dict[tuple[str, str], list[tuple[frozenset[str], _At]]] = field(default_factory=dict)
    #: Release requests by (hub stream, restricted owner): (request id, position).
    requested: dict[tuple[str, str], list[tuple[str, _At]]] = field(default_factory=dict)
    #: Dossiers published by (owner, recipient) that need / do not need the owner's consent.
    restricted_publish: dict[tuple[str, str], list[_At]] = field(default_factory=dict)
    open_publish: dict[tuple[str, str], list[_At]] = field(default_factory=dict)
    notifications: list[tuple[str, str, str, list[str], _At]] = field(default_factory=list)
    #: (hub stream, request id, alias) -> the restricted agency the hub's request bound it to.
    aliases: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: REJECT events seen (each dead letter has one), by reason code.
    rejected: dict[str, int] = field(default_factory=dict)
    delivery_grace: dt.timedelta = DELIVERY_GRACE
    #: Rule 5 (:mod:`broker.audit.compliance`): recalls answered DESTROYED by their deadline.
    recalls: RecallRule = field(default_factory=RecallRule)

    @property
    def rejections(self) -> int:
        """How many REJECT events were seen."""
        return sum(self.rejected.values())

    def add(self, rec: dict[str, Any], where: _Located) -> None:
        """Note one decoded event (an ``eu.fed.AuditEvent`` record) read at ``where``."""
        kind = rec["kind"]
        parties: list[str] = rec["parties"]
        stream: str = rec["stream"]
        envelope_id: str | None = rec["envelope_id"]
        pos = _At(stream, rec.get("seq", 0), where, rec["at"])
        self.recalls.add(rec, pos=where.where, seq=pos.seq, at=rec["at"])
        if kind == "PUBLISH" and parties and envelope_id:
            if parties[0] == stream:
                self.published.setdefault(envelope_id, []).append(
                    (parties[0], frozenset(parties[1:]), rec["envelope_sha256"], pos)
                )
                if rec.get("message_kind") == "DOSSIER":
                    held = (
                        self.restricted_publish
                        if _consent_required(rec.get("codes"))
                        else self.open_publish
                    )
                    for recipient in parties[1:]:
                        held.setdefault((stream, recipient), []).append(pos)
        elif kind == "DELIVER" and len(parties) == 2 and envelope_id:
            if stream != ROUTER:
                return  # only the router delivers; anyone else claiming it proves nothing
            self.delivered.setdefault((parties[0], envelope_id, parties[1]), []).append(
                (rec["envelope_sha256"], pos)
            )
        elif kind == "OPEN" and len(parties) == 2 and envelope_id:
            self.opened.append((parties[0], envelope_id, stream, rec["envelope_sha256"], pos))
            self.answered.setdefault((envelope_id, stream), []).append(pos)
        elif kind == "RELEASE_GRANT" and rec["ref"] and parties and parties[0] == stream:
            self.granted.setdefault((rec["ref"], parties[0]), []).append(
                (frozenset(parties[1:]), pos)
            )
        elif kind == "RELEASE_REQUEST" and rec["ref"] and len(parties) >= 2:
            self.requested.setdefault((stream, parties[1]), []).append((rec["ref"], pos))
            for party in parties[2:]:
                alias, sep, agency = party.partition("=")
                if sep:  # the hub's anonymous name for a restricted holder (finding F1)
                    self.aliases[(stream, rec["ref"], alias)] = agency
        elif kind == "REJECT":
            reason = rec["reason"] or "unknown"
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            if envelope_id:
                self.answered.setdefault((envelope_id, stream), []).append(pos)
        elif kind == "HIT_NOTIFICATION" and len(parties) >= 2:
            self.notifications.append(
                (rec["outcome"] or "", rec["ref"] or "", stream, parties, pos)
            )

    def violations(
        self,
        *,
        anchored: Mapping[str, int] | None = None,
        newest: dt.datetime | None = None,
    ) -> list[tuple[str, str, str]]:
        """Return ``(stream, where, detail)`` for every broken rule.

        ``anchored`` maps each stream to its anchored size (None: trust every event, for a
        book used on its own); ``newest`` is the newest signed checkpoint time, if known.
        """

        def ok(pos: _At) -> bool:
            return anchored is None or pos.seq < anchored.get(pos.stream, 0)

        out: list[tuple[str, str, str]] = []
        out += self._deliveries(ok)
        out += self._opens(ok)
        out += self._releases(ok)
        out += self._answers(ok, newest)
        out += self.recalls.violations(
            lambda stream, seq: anchored is None or seq < anchored.get(stream, 0), newest
        )
        return out

    def _deliveries(self, ok: Any) -> list[tuple[str, str, str]]:
        out = []
        for (sender, envelope_id, recipient), deliveries in self.delivered.items():
            candidates = [p for p in self.published.get(envelope_id, []) if p[0] == sender]
            pubs = [p for p in candidates if ok(p[3])]
            note = _UNANCHORED if len(pubs) < len(candidates) else ""
            for sha, pos in deliveries:
                if not pubs:
                    detail = f"delivery of {envelope_id} that was never published{note}"
                elif not any(recipient in p[1] for p in pubs):
                    detail = f"{envelope_id} delivered to {recipient}, not a recipient{note}"
                elif not any(recipient in p[1] and p[2] == sha for p in pubs):
                    detail = f"{envelope_id} delivered with other bytes{note}"
                else:
                    continue
                out.append((ROUTER, pos.where.where, detail))
        return out

    def _opens(self, ok: Any) -> list[tuple[str, str, str]]:
        out = []
        for sender, envelope_id, agency, sha, pos in self.opened:
            candidates = self.delivered.get((sender, envelope_id, agency), [])
            got = [d for d in candidates if ok(d[1])]
            note = _UNANCHORED if len(got) < len(candidates) else ""
            if not got:
                detail = f"{agency} opened envelope {envelope_id} that was never delivered to it"
                out.append((agency, pos.where.where, detail + note))
            elif not any(d[0] == sha for d in got):
                out.append(
                    (agency, pos.where.where, f"{agency} opened other bytes of {envelope_id}{note}")
                )
            elif pos.at is not None and all(
                d[1].at is not None and pos.at + CLOCK_SKEW < d[1].at for d in got if d[0] == sha
            ):
                out.append(
                    (agency, pos.where.where, f"{agency} opened {envelope_id} before its delivery")
                )
        return out

    def _releases(self, ok: Any) -> list[tuple[str, str, str]]:
        out = []
        for outcome, ref, hub, parties, pos in self.notifications:
            notified = parties[1]
            for holder in dict.fromkeys(parties[2:]):
                if holder in (notified, hub):
                    continue
                requests = {r for r, p in self.requested.get((hub, holder), []) if ok(p)}
                # The events do not say which of the holder's dossiers matched: a holder that
                # also gave the hub a dossier needing no consent may be named (see the docs).
                marked = bool(requests) or any(
                    ok(p) for p in self.restricted_publish.get((holder, hub), [])
                )
                unrestricted = any(ok(p) for p in self.open_publish.get((holder, hub), []))
                restricted = outcome == "released" or (marked and not unrestricted)
                if not restricted:
                    continue
                acceptable = requests | ({ref} if ref else set())
                granted = any(
                    notified in {self.aliases.get((hub, request_id, a), a) for a in release_to}
                    and ok(p)
                    for request_id in acceptable
                    for release_to, p in self.granted.get((request_id, holder), [])
                )
                if not granted:
                    out.append(
                        (
                            hub,
                            pos.where.where,
                            f"{holder}'s restricted holding released to {notified} "
                            f"without {holder}'s grant (request {ref or 'none'})",
                        )
                    )
        return out

    def _answers(self, ok: Any, newest: dt.datetime | None) -> list[tuple[str, str, str]]:
        facts: list[_At] = [pos for ds in self.delivered.values() for _, pos in ds]
        facts += [pos for ps in self.answered.values() for pos in ps]
        facts += [pos for ps in self.published.values() for *_, pos in ps]
        facts += [pos for *_, pos in self.notifications]
        times = [pos.at for pos in facts if pos.at is not None and ok(pos)]
        if newest is not None:
            times.append(newest)
        if not times:
            return []
        reference = max(times)
        out = []
        for (_, envelope_id, recipient), deliveries in self.delivered.items():
            answers = self.answered.get((envelope_id, recipient), [])
            if any(ok(p) for p in answers):
                continue
            note = _UNANCHORED if answers else ""
            for _, pos in deliveries:
                if pos.at is not None and pos.at + self.delivery_grace < reference:
                    out.append(
                        (
                            recipient,
                            pos.where.where,
                            f"{envelope_id} delivered to {recipient} was neither opened nor "
                            f"rejected by it within {self.delivery_grace}{note}",
                        )
                    )
                    break
        return out
