"""The two-analyst rule: a hash enters the shared known-material list only when
analysts of two DIFFERENT members confirm it (the rule INTERPOL applies to its
"worst of" list); a hash one member confirms and another disputes is quarantined.

How it travels — only existing signed hash-list updates (:mod:`broker.hashlist`):

* each member's analysts state their assessments on that member's own list
  ``<prefix>.hashlist.<MEMBER>.assessments`` (:data:`~broker.hashlist.state.ASSESSMENTS`):
  ``ADD`` = "illegal, confirmed by analyst <source>", ``DISPUTE`` = "not illegal";
  one entry per (member, hash), so a member counts once however many of its analysts agree.
  Followers store these entries but never match them as known material;
* the curator (the hub by default) follows every list and publishes the verdicts on
  its list ``<prefix>.hashlist.<CURATOR>.shared-known``: ``ADD`` when two members
  confirm and none disputes (later ``CONFIRM`` if it was quarantined), ``DISPUTE``
  (quarantined: not matched) as soon as one member disputes a hash another confirmed.

:func:`plan_shared` is a pure function of the curator's list state: running it
again publishes nothing new.

Example::

    >>> verdict({"HR-CNZD": "a1", "NL-MELD": "b7"}, disputes=set())
    'CONFIRMED'
    >>> verdict({"HR-CNZD": "a1"}, disputes=set()), verdict({"HR-CNZD": "a1"}, disputes={"NL-MELD"})
    ('PENDING', 'QUARANTINED')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from broker.hashlist.state import ASSESSMENTS, ListEntry, ListState
from broker.hashlist.update import ListOp, ListUpdate, next_version

__all__ = ["SHARED_LIST", "Assessments", "assessment", "collect", "plan_shared", "verdict"]

#: The curator's list of hashes confirmed by two members.
SHARED_LIST = "shared-known"
#: How many different members must confirm.
REQUIRED_MEMBERS = 2

Verdict = Literal["CONFIRMED", "PENDING", "QUARANTINED", "REJECTED"]


def verdict(confirmed_by: Mapping[str, str], *, disputes: set[str]) -> Verdict:
    """Return the shared list's verdict on a hash given who confirmed and who disputed it."""
    if confirmed_by and disputes:
        return "QUARANTINED"
    if disputes:
        return "REJECTED"  # only disputed: never on the list
    return "CONFIRMED" if len(confirmed_by) >= REQUIRED_MEMBERS else "PENDING"


def _key(e: ListEntry | ListUpdate) -> str | None:
    for kind in ("sha256", "md5", "pdq"):
        value = getattr(e, kind)
        if value:
            return f"{kind}-{value}"
    return None


def assessment(
    *,
    member: str,
    key_id: str,
    analyst: str,
    sha256: str | None = None,
    md5: str | None = None,
    illegal: bool = True,
    category: str | None = None,
) -> ListUpdate:
    """Return ``member``'s signed-to-be update stating its analyst's assessment of a hash."""
    update = ListUpdate(
        list=ASSESSMENTS,
        owner=member,
        key_id=key_id,
        entry_id="pending",
        version=next_version(),
        op="ADD" if illegal else "DISPUTE",
        sha256=sha256,
        md5=md5,
        category=category,
        source=analyst,
        note="confirmed illegal" if illegal else "assessed not illegal",
    )
    # ListUpdate refuses an entry without a hash, so _key always finds one.
    return ListUpdate(**{**update.record(), "entry_id": _key(update) or update.entry_id})


@dataclass
class Assessments:
    """Every member's latest assessment of one hash."""

    sample: ListEntry
    confirmed_by: dict[str, str] = field(default_factory=dict)
    disputes: set[str] = field(default_factory=set)
    category: str | None = None


def collect(state: ListState) -> dict[str, Assessments]:
    """Return the members' assessments in ``state``, by hash key (``sha256-<hex>``)."""
    out: dict[str, Assessments] = {}
    for e in state.entries():
        key = _key(e)
        if e.list != ASSESSMENTS or key is None:
            continue
        a = out.setdefault(key, Assessments(sample=e))
        if e.op in ("ADD", "CONFIRM"):
            a.confirmed_by[e.owner] = e.source or "?"
            a.category = a.category or e.category
        elif e.op == "DISPUTE":
            a.disputes.add(e.owner)
    return out


def plan_shared(state: ListState, *, curator: str, key_id: str) -> list[ListUpdate]:
    """Return the shared-list updates the curator must publish so the list matches the rule."""
    published = {
        e.entry_id: e for e in state.entries() if e.owner == curator and e.list == SHARED_LIST
    }
    out: list[ListUpdate] = []
    for key, a in sorted(collect(state).items()):
        v = verdict(a.confirmed_by, disputes=a.disputes)
        current = published.get(key)
        on_list = current is not None and current.op in ("ADD", "CONFIRM")
        op: ListOp | None = None
        if v == "CONFIRMED" and not on_list:
            op = "ADD" if current is None else "CONFIRM"
        elif v == "QUARANTINED" and (current is None or current.op != "DISPUTE"):
            op = "DISPUTE"
        if op is None:
            continue
        who = ", ".join(f"{m}/{x}" for m, x in sorted(a.confirmed_by.items()))
        note = f"confirmed by {who}"
        if v == "QUARANTINED":
            note += f"; disputed by {', '.join(sorted(a.disputes))}"
        out.append(
            ListUpdate(
                list=SHARED_LIST,
                owner=curator,
                key_id=key_id,
                entry_id=key,
                version=next_version(current.version if current else 0),
                op=op,
                sha256=a.sample.sha256,
                md5=a.sample.md5,
                pdq=a.sample.pdq,
                category=a.category,
                source="two-analyst rule",
                note=note,
            )
        )
    return out
