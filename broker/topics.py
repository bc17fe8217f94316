"""The topic layout of a federation, and who may do what on each topic.

=============================  ===============================  ======================
topic                          written by                       read by
=============================  ===============================  ======================
``<p>.outbox.<AGENCY>``        that agency only                 the router
``<p>.inbox.<AGENCY>``         the router                       that agency only
``<p>.rejected.<AGENCY>``      the router and that agency       that agency, auditors
``<p>.audit``                  every node                       auditors
``<p>.federation`` (compacted) the federation administrator     everyone
``<p>.hashlist.<OWNER>.<list>`` that owner only                 every agency
(compacted)
=============================  ===============================  ======================

The prefix ``<p>`` is configurable (default ``fed``). :func:`access_matrix` derives
the Kafka ACLs (and the access-matrix test) from this one table. A hotline gets the
same topics and ACLs as any member.

What each *kind* of member may send and receive (enforced by the router on the
signed cleartext header, :func:`message_allowed`; anything else is dead-lettered
``kind-not-allowed``)::

    member kind  sends                                   receives
    police       DOSSIER RECEIPT RELEASE_*               DOSSIER RECEIPT HIT_NOTIFICATION RELEASE_*
                 CONTROL COMPLIANCE REQUEST REPLY        CONTROL COMPLIANCE REQUEST REPLY
                 REFUSAL DEADLINE_NOTICE                 REFUSAL DEADLINE_NOTICE
    hub          as police, and HIT_NOTIFICATION         as police, and URL_REPORT
                 NOTICE_STATUS
    hotline      URL_REPORT NOTICE_STATUS RECEIPT        URL_REPORT NOTICE_STATUS RECEIPT
                                                         HIT_NOTIFICATION (never a DOSSIER)

Hash-list updates travel on the owner's compacted hash-list topics, which every
member (a hotline included) may write for its own lists.

Example::

    >>> from broker.topics import TopicLayout
    >>> layout = TopicLayout(prefix="fed")
    >>> layout.outbox("ES-PN"), layout.inbox("DE-BKA"), layout.audit
    ('fed.outbox.ES-PN', 'fed.inbox.DE-BKA', 'fed.audit')
    >>> layout.agency_of_outbox("fed.outbox.ES-PN")
    'ES-PN'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from broker.errors import ConfigError

__all__ = [
    "AGENCY_ID_PATTERN",
    "HUB",
    "LIST_NAME_PATTERN",
    "ROUTER",
    "MemberKind",
    "Operation",
    "Permission",
    "TopicLayout",
    "access_matrix",
    "check_agency_id",
    "message_allowed",
]

#: Hash-list names: 1-40 of a-z, 0-9 and '-', starting with a letter or digit.
LIST_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

#: Agency ids look like ``ES-PN``, ``DE-BKA``, ``EUROPOL``.
AGENCY_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,7}(?:-[A-Z0-9]{1,8}){0,2}$")

#: Principal of the router (certificate CN under mTLS).
ROUTER = "router"
#: The hub's agency id by default (a Europol-like hub; every hub command takes ``--as``/``--hub``).
HUB = "EUROPOL"


def check_agency_id(agency: str) -> str:
    """Return ``agency`` if it is a well-formed agency id, else raise :class:`ConfigError`."""
    if not AGENCY_ID_PATTERN.fullmatch(agency):
        raise ConfigError(
            f"malformed agency id {agency!r}",
            detail="expected upper-case letters/digits with up to two hyphens, e.g. ES-PN",
        )
    return agency


class MemberKind(StrEnum):
    """What a federation member is (recorded in its root-signed ``profile.json``)."""

    POLICE = "police"
    HUB = "hub"
    HOTLINE = "hotline"


_POLICE = frozenset(
    {"DOSSIER", "RECEIPT", "HIT_NOTIFICATION", "RELEASE_REQUEST", "RELEASE_GRANT"}
    | {"CONTROL", "COMPLIANCE"}  # the owner's recall/restriction and each holder's answer
    | {"REQUEST", "REPLY", "REFUSAL", "DEADLINE_NOTICE"}  # the request workflow
)
#: Envelope kinds each member kind may send, and may receive.
SENDS: dict[MemberKind, frozenset[str]] = {
    MemberKind.POLICE: _POLICE,
    MemberKind.HUB: _POLICE | {"NOTICE_STATUS"},
    MemberKind.HOTLINE: frozenset({"URL_REPORT", "NOTICE_STATUS", "RECEIPT"}),
}
RECEIVES: dict[MemberKind, frozenset[str]] = {
    MemberKind.POLICE: _POLICE,
    MemberKind.HUB: _POLICE | {"URL_REPORT", "NOTICE_STATUS"},
    MemberKind.HOTLINE: frozenset({"URL_REPORT", "NOTICE_STATUS", "RECEIPT", "HIT_NOTIFICATION"}),
}


def message_allowed(sender: MemberKind, recipient: MemberKind, kind: str) -> bool:
    """Whether a ``sender`` member may send an envelope of ``kind`` to a ``recipient`` member.

    >>> message_allowed(MemberKind.POLICE, MemberKind.HOTLINE, "DOSSIER")
    False
    >>> message_allowed(MemberKind.HOTLINE, MemberKind.HUB, "URL_REPORT")
    True
    """
    return kind in SENDS[sender] and kind in RECEIVES[recipient]


class Operation(StrEnum):
    """Kafka operations the layout grants."""

    READ = "READ"
    WRITE = "WRITE"


@dataclass(frozen=True, kw_only=True)
class Permission:
    """One allowed (principal, topic, operation)."""

    principal: str
    topic: str
    operation: Operation


@dataclass(frozen=True, kw_only=True)
class TopicLayout:
    """Topic names for one federation."""

    prefix: str = "fed"

    def outbox(self, agency: str) -> str:
        """Return the topic an agency publishes to."""
        return f"{self.prefix}.outbox.{check_agency_id(agency)}"

    def inbox(self, agency: str) -> str:
        """Return the topic the router delivers an agency's envelopes to."""
        return f"{self.prefix}.inbox.{check_agency_id(agency)}"

    def rejected(self, agency: str) -> str:
        """Return the dead-letter topic for records concerning an agency."""
        return f"{self.prefix}.rejected.{check_agency_id(agency)}"

    @property
    def audit(self) -> str:
        """The audit log topic."""
        return f"{self.prefix}.audit"

    @property
    def federation(self) -> str:
        """The compacted topic carrying the public federation registry."""
        return f"{self.prefix}.federation"

    def hashlist(self, owner: str, name: str) -> str:
        """Return the compacted topic of ``owner``'s hash list ``name``."""
        if not LIST_NAME_PATTERN.fullmatch(name):
            raise ConfigError(
                f"malformed hash-list name {name!r}", detail="expected [a-z0-9-]{1,40}"
            )
        return f"{self.hashlist_prefix(owner)}{name}"

    def hashlist_prefix(self, owner: str | None = None) -> str:
        """Return the prefix of every hash-list topic (of ``owner``'s only, if given)."""
        head = f"{self.prefix}.hashlist."
        return head if owner is None else f"{head}{check_agency_id(owner)}."

    def hashlist_of(self, topic: str) -> tuple[str, str]:
        """Return ``(owner, name)`` of hash-list ``topic``; raise ConfigError if it is not one."""
        head = self.hashlist_prefix()
        owner, _, name = topic.removeprefix(head).partition(".")
        if not topic.startswith(head) or not LIST_NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"{topic!r} is not a hash-list topic")
        return check_agency_id(owner), name

    @property
    def outbox_pattern(self) -> str:
        """A regular expression matching every outbox (for the router's subscription)."""
        return rf"^{re.escape(self.prefix)}\.outbox\..+$"

    def agency_of_outbox(self, topic: str) -> str:
        """Return the agency owning outbox ``topic``; raise ConfigError if it is not an outbox."""
        head = f"{self.prefix}.outbox."
        if not topic.startswith(head):
            raise ConfigError(f"{topic!r} is not an outbox topic")
        return check_agency_id(topic[len(head) :])

    def agency_topics(self, agency: str) -> list[str]:
        """Return the three per-agency topics."""
        return [self.outbox(agency), self.inbox(agency), self.rejected(agency)]

    def consumer_group(self, agency: str) -> str:
        """Return the consumer group of an agency's inbox consumer."""
        return f"{self.prefix}.agency.{check_agency_id(agency)}"

    @property
    def router_group(self) -> str:
        """The router's consumer group."""
        return f"{self.prefix}.router"


def access_matrix(layout: TopicLayout, agencies: list[str]) -> set[Permission]:
    """Return every permission the layout grants; everything else is denied."""
    allowed: set[Permission] = set()

    def grant(principal: str, topic: str, op: Operation) -> None:
        allowed.add(Permission(principal=principal, topic=topic, operation=op))

    for agency in agencies:
        grant(agency, layout.outbox(agency), Operation.WRITE)
        grant(agency, layout.inbox(agency), Operation.READ)
        grant(agency, layout.rejected(agency), Operation.WRITE)
        grant(agency, layout.rejected(agency), Operation.READ)
        grant(agency, layout.audit, Operation.WRITE)
        grant(agency, layout.federation, Operation.READ)
        grant(ROUTER, layout.outbox(agency), Operation.READ)
        grant(ROUTER, layout.inbox(agency), Operation.WRITE)
        grant(ROUTER, layout.rejected(agency), Operation.WRITE)
    grant(ROUTER, layout.audit, Operation.WRITE)
    grant(ROUTER, layout.federation, Operation.READ)
    return allowed
