"""Telling a list owner that the hub quarantined one of its entries for over-matching.

When an entry of a hash list has matched more than ``quarantine_after`` distinct media
(:class:`~broker.hub.lists.ListMatcher`) and its owner has not confirmed it, the hub
stops counting it as known material and tells the owner, once per entry version, in a
signed ``HIT_NOTIFICATION`` through the normal envelope path (sealed to the owner only,
audited as ``HIT_NOTIFICATION`` with no other party named). The owner reviews the entry
and answers with a list update: ``CONFIRM`` lifts the quarantine, ``DISPUTE`` or
``WITHDRAW`` stops the entry matching.

The notice reuses the ``eu.fed.HitNotification`` schema (no new message kind):

* ``hit_key`` = ``quarantine:<list owner>/<list>/<entry id>``, and ``owner_envelope_id``
  is empty (no dossier of the owner's is involved);
* ``selector_type`` / ``selector_value``: the entry's own hash (``MEDIA_PDQ`` and the PDQ
  hash if it has one, else ``MEDIA_SHA256`` and its SHA-256, else ``MEDIA_SHA256`` and
  its MD5) — the owner's own value, nothing of the holders';
* ``other_agencies`` is empty: the agencies whose media matched are never named
  (originator control); ``known_material`` is false;
* ``matches``: one item with ``lists`` = the entry, ``status`` ``QUARANTINED``;
* ``list_counts``: one item, the entry's list and category, ``count`` = distinct media
  the entry matched; ``matched_references`` repeats that count, ``references`` is 0.

Example::

    >>> from broker.hashlist import ListEntry
    >>> e = ListEntry(row=1, topic="t", owner="IT-PS", list="hotline", entry_id="e-1",
    ...     version=1, op="ADD", sha256="ab" * 32, md5=None, pdq=None, category="A",
    ...     series=None, source=None, note=None)
    >>> quarantine_key(e)
    'quarantine:IT-PS/hotline/e-1'
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from broker.hashlist import ListEntry

__all__ = ["NOTICE_CODES", "Quarantined", "quarantine_key", "quarantine_notice"]

#: Codes of a quarantine notice: a fact the hub measured about the owner's own list.
NOTICE_CODES: dict[str, Any] = {
    "handling": ["H0"],
    "h3_restrictions": None,
    "tlp": "AMBER",
    "pap": "AMBER",
    "classification": "RESTRICTED",
    "evaluation": {"source": "A", "information": "I1"},
    "legal_basis": "Regulation (EU) 2016/794 Art. 38 (responsibility for the quality of data)",
    "purpose": "Review of an over-matching hash-list entry by its owner",
    "retention_review": dt.date(2031, 12, 31),
}


@dataclass(frozen=True, kw_only=True)
class Quarantined:
    """A quarantined entry whose owner has not been told yet, and its distinct media."""

    entry: ListEntry
    media: int


def quarantine_key(entry: ListEntry) -> str:
    """Return the ``hit_key`` of the notice about ``entry``."""
    return f"quarantine:{entry.owner}/{entry.list}/{entry.entry_id}"


def quarantine_notice(q: Quarantined, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Return the ``eu.fed.HitNotification`` record telling the owner of ``q``."""
    e = q.entry
    if e.pdq:
        selector, value, kind = "MEDIA_PDQ", e.pdq, "pdq"
    elif e.sha256:
        selector, value, kind = "MEDIA_SHA256", e.sha256, "sha256"
    else:
        selector, value, kind = "MEDIA_SHA256", str(e.md5), "md5"
    key = quarantine_key(e)
    listed = {
        "list": e.list,
        "list_owner": e.owner,
        "entry_id": e.entry_id,
        "category": e.category,
        "series": e.series,
        "kind": kind,
        "distance": 0,
        "status": "QUARANTINED",
    }
    return {
        "hit_id": secrets.token_hex(8),
        "selector_type": selector,
        "selector_value": value,
        "owner_envelope_id": "",
        "other_agencies": [],
        "permission_required": False,
        "known_material": False,
        "hit_key": key,
        "codes": NOTICE_CODES,
        "at": at or dt.datetime.now(dt.UTC),
        "matches": [
            {
                "hit_key": key,
                "selector_type": selector,
                "selector_value": value,
                "other_agencies": [],
                "permission_required": False,
                "known_material": False,
                "lists": [listed],
            }
        ],
        "list_counts": [
            {"list": e.list, "list_owner": e.owner, "category": e.category, "count": q.media}
        ],
        "references": 0,
        "matched_references": q.media,
    }
