"""Semantic rules across audit streams: what the events say must hang together.

Cross-stream order is not defined by Kafka (streams live in different
partitions), so the rules are checked once the whole log is read:

1. every ``DELIVER`` (only the router's count) has a ``PUBLISH`` by the sender, in the sender's
   own stream, listing that recipient, over the same envelope bytes (SHA-256);
2. every ``OPEN`` follows a ``DELIVER`` of the same bytes to the agency that
   opened it (allowing :data:`CLOCK_SKEW` between nodes' clocks);
3. no release of restricted content without a grant: a ``HIT_NOTIFICATION``
   with outcome ``released`` (the hub revealing a restricted holder) needs a
   ``RELEASE_GRANT`` by that holder, in its own stream, for the same request
   and naming the notified agency — by its id, or by the alias under which the
   hub's own ``RELEASE_REQUEST`` for that request showed it (party ``alias=AGENCY``).

Rules 1 and 2 identify an envelope by (sender, envelope id): the id is the
sender's choice, so one agency re-using another's id matches nothing of it.

Example::

    >>> from broker.audit.verify import RawRecord
    >>> book = RuleBook()
    >>> book.add({"kind": "OPEN", "stream": "DE-BKA", "envelope_id": "e1",
    ...           "envelope_sha256": b"h", "parties": ["ES-PN", "DE-BKA"], "at": None},
    ...          RawRecord(partition=0, offset=7, key=None, value=b""))
    >>> [detail for _, _, detail in book.violations()]
    ['DE-BKA opened envelope e1 that was never delivered to it']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from broker.topics import ROUTER

__all__ = ["CLOCK_SKEW", "RuleBook"]

#: How far apart two nodes' clocks may be before "follows" is judged false.
CLOCK_SKEW = dt.timedelta(seconds=30)


class _Located(Protocol):
    @property
    def where(self) -> str: ...


@dataclass
class RuleBook:
    """Collects the facts the rules need while the log is replayed."""

    # Keyed by (sender, envelope id): an id is the sender's choice and readable by every
    # co-recipient, so another agency re-using it must neither mask nor fake a finding.
    published: dict[tuple[str, str], tuple[frozenset[str], bytes | None]] = field(
        default_factory=dict
    )
    delivered: dict[tuple[str, str, str], tuple[bytes | None, dt.datetime | None, _Located]] = (
        field(default_factory=dict)
    )
    opened: list[tuple[str, str, str, bytes | None, dt.datetime | None, _Located]] = field(
        default_factory=list
    )
    granted: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    released: list[tuple[str, str, str, str, _Located]] = field(default_factory=list)
    #: (hub stream, request id, alias) -> the restricted agency the hub's request bound it to.
    aliases: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: REJECT events seen (each dead letter has one), by reason code.
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rejections(self) -> int:
        """How many REJECT events were seen."""
        return sum(self.rejected.values())

    def add(self, rec: dict[str, Any], where: _Located) -> None:
        """Note one decoded event (an ``eu.fed.AuditEvent`` record) read at ``where``."""
        kind = rec["kind"]
        parties: list[str] = rec["parties"]
        if kind == "PUBLISH" and parties and rec["envelope_id"]:
            if parties[0] == rec["stream"]:
                self.published[(parties[0], rec["envelope_id"])] = (
                    frozenset(parties[1:]),
                    rec["envelope_sha256"],
                )
        elif kind == "DELIVER" and len(parties) == 2 and rec["envelope_id"]:
            if rec["stream"] != ROUTER:
                return  # only the router delivers; anyone else claiming it proves nothing
            self.delivered[(parties[0], rec["envelope_id"], parties[1])] = (
                rec["envelope_sha256"],
                rec["at"],
                where,
            )
        elif kind == "OPEN" and len(parties) == 2 and rec["envelope_id"]:
            self.opened.append(
                (
                    parties[0],
                    rec["envelope_id"],
                    rec["stream"],
                    rec["envelope_sha256"],
                    rec["at"],
                    where,
                )
            )
        elif kind == "RELEASE_GRANT" and rec["ref"] and parties and parties[0] == rec["stream"]:
            self.granted[(rec["ref"], parties[0])] = frozenset(parties[1:])
        elif kind == "RELEASE_REQUEST" and rec["ref"] and parties and parties[0] == rec["stream"]:
            for party in parties[2:]:
                alias, sep, agency = party.partition("=")
                if sep:
                    self.aliases[(rec["stream"], rec["ref"], alias)] = agency
        elif kind == "REJECT":
            reason = rec["reason"] or "unknown"
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        elif kind == "HIT_NOTIFICATION" and rec["outcome"] == "released" and len(parties) == 3:
            self.released.append((rec["ref"] or "", parties[1], parties[2], rec["stream"], where))

    def violations(self) -> list[tuple[str, str, str]]:
        """Return ``(stream, where, detail)`` for every broken rule."""
        out: list[tuple[str, str, str]] = []
        for (sender, envelope_id, recipient), (sha, _, where) in self.delivered.items():
            pub = self.published.get((sender, envelope_id))
            if pub is None:
                out.append(
                    (ROUTER, where.where, f"delivery of {envelope_id} that was never published")
                )
            elif recipient not in pub[0]:
                out.append(
                    (
                        ROUTER,
                        where.where,
                        f"{envelope_id} delivered to {recipient}, not a recipient",
                    )
                )
            elif pub[1] != sha:
                out.append((ROUTER, where.where, f"{envelope_id} delivered with other bytes"))
        for sender, envelope_id, agency, sha, at, where in self.opened:
            got = self.delivered.get((sender, envelope_id, agency))
            if got is None:
                out.append(
                    (
                        agency,
                        where.where,
                        f"{agency} opened envelope {envelope_id} that was never delivered to it",
                    )
                )
            elif got[0] != sha:
                out.append((agency, where.where, f"{agency} opened other bytes of {envelope_id}"))
            elif at is not None and got[1] is not None and at + CLOCK_SKEW < got[1]:
                out.append(
                    (agency, where.where, f"{agency} opened {envelope_id} before its delivery")
                )
        for request_id, notified, grantor, stream, where in self.released:
            release_to = self.granted.get((request_id, grantor), frozenset())
            named = {self.aliases.get((stream, request_id, a), a) for a in release_to}
            if notified not in named:
                out.append(
                    (
                        stream,
                        where.where,
                        f"{grantor}'s restricted holding released to {notified} "
                        f"without {grantor}'s grant (request {request_id})",
                    )
                )
        return out
