"""Hash lists as living data: signed updates on compacted Kafka topics, replayed into an index.

A list owner (a hotline, a national unit, the hub) publishes :class:`ListUpdate`
records (add, withdraw, confirm, dispute; with category, series and source) to
its list's topic; subscribers follow every list with :class:`ListFollower` into
a :class:`ListState`, whose index answers exact SHA-256 / MD5 and PDQ
near-duplicate queries. See ``docs/matching.md``, "Hash lists".

Example::

    >>> ListUpdate(list="hot", owner="ES-PN", key_id="k", entry_id="e", version=1,
    ...            op="ADD", md5="0" * 32).live
    True
"""

from __future__ import annotations

from broker.hashlist.feed import ListFollower, ensure_list_topic, publish_updates
from broker.hashlist.files import read_entries, write_entries
from broker.hashlist.state import Applied, ListEntry, ListHit, ListState
from broker.hashlist.update import ListOp, ListUpdate, open_update, sign_update

__all__ = [
    "Applied",
    "ListEntry",
    "ListFollower",
    "ListHit",
    "ListOp",
    "ListState",
    "ListUpdate",
    "ensure_list_topic",
    "open_update",
    "publish_updates",
    "read_entries",
    "sign_update",
    "write_entries",
]
