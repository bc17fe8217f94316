"""Re-key the hub's PDQ holdings after a recall split a cluster.

When a recall takes a hash out of a cluster (:meth:`broker.hub.pdq.PdqClusters.erase`),
the cluster is recomputed from its remaining members. One new id is a plain rename
(the hub index's ``_rename``: holdings, notifications, release requests and
``renamed_keys`` alike). Several are a split, re-keyed here one row at a time:

* a holding moves to the key of every new cluster holding one of its dossier's
  hashes (``pdq_held``), showing its own value where that is one of them;
* a notification row (what one agency was told on the key) is copied to every new
  key that agency now holds, then dropped;
* a release request moves to the key the owner's holding (its value) now has, and
  ``renamed_keys`` maps the old key to it when every request went the same way and no
  new cluster kept the old id (a grant naming the old key then still resolves; otherwise
  a grant naming it for a request that moved is refused as naming another hit).

A live key never resolves elsewhere: ``renamed_keys`` loses any entry from a new id
(a cluster may get back an id it had before a merge).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from broker._internal.sqlite import immediate

__all__ = ["backfill_held", "rekey"]


def backfill_held(db: sqlite3.Connection) -> None:
    """Fill ``pdq_held`` once from the holdings of a hub.db written before it existed."""
    with immediate(db):
        if db.execute("SELECT 1 FROM meta WHERE key = 'pdq_held'").fetchone():
            return
        db.execute(
            "INSERT OR IGNORE INTO pdq_held SELECT agency, envelope_id, lower(value) "
            "FROM holdings WHERE key LIKE 'pdq:%'"
        )
        db.execute("INSERT INTO meta VALUES ('pdq_held', 'v1')")


def rekey(
    db: sqlite3.Connection,
    moved: dict[str, dict[str, str]],
    rename: Callable[[dict[str, str]], None],
) -> None:
    """Re-key every cluster of ``moved`` (old id -> {remaining member hash: new id})."""
    for old, members in moved.items():
        news = set(members.values())
        if news <= {old}:
            continue
        if len(news) == 1:
            rename({old: next(iter(news))})
        else:
            _split(db, f"pdq:{old}", members)
        for new in news:  # a live key resolves to itself (it may be a member's old id again)
            db.execute("DELETE FROM renamed_keys WHERE old = ?", (f"pdq:{new}",))


def _split(db: sqlite3.Connection, old_key: str, members: dict[str, str]) -> None:
    rows = db.execute(
        "SELECT agency, envelope_id, restricted, value, codes FROM holdings WHERE key = ?",
        (old_key,),
    ).fetchall()
    db.execute("DELETE FROM holdings WHERE key = ?", (old_key,))  # one new key may be the old
    value_key: dict[tuple[str, str], str] = {}
    for agency, envelope_id, restricted, value, codes in rows:
        groups: dict[str, list[str]] = {}
        held = db.execute(
            "SELECT hash FROM pdq_held WHERE agency = ? AND envelope_id = ?", (agency, envelope_id)
        ).fetchall()
        for (h,) in held:
            if h in members:
                groups.setdefault(members[h], []).append(h)
        for cluster, hashes in sorted(groups.items()):
            shown = value if str(value).lower() in hashes else min(hashes)
            db.execute(
                "INSERT OR IGNORE INTO holdings VALUES (?, ?, ?, ?, ?, ?)",
                (f"pdq:{cluster}", agency, envelope_id, restricted, shown, codes),
            )
        own = members.get(str(value).lower()) or min(groups, default=None)
        if own is not None:
            value_key[(agency, envelope_id)] = f"pdq:{own}"
    new_keys = sorted({f"pdq:{c}" for c in members.values()})
    marks = ",".join("?" * len(new_keys))
    told = db.execute("SELECT agency, others FROM notified WHERE key = ?", (old_key,)).fetchall()
    db.execute("DELETE FROM notified WHERE key = ?", (old_key,))
    for agency, others in told:
        for (key,) in db.execute(
            f"SELECT DISTINCT key FROM holdings WHERE agency = ? AND key IN ({marks})",  # noqa: S608
            (agency, *new_keys),
        ).fetchall():
            db.execute("INSERT OR IGNORE INTO notified VALUES (?, ?, ?)", (key, agency, others))
    went: set[str] = set()
    for request_id, owner, envelope_id in db.execute(
        "SELECT request_id, owner, owner_envelope_id FROM release_requests WHERE key = ?",
        (old_key,),
    ).fetchall():
        key = value_key.get((owner, envelope_id))
        if key is not None:
            db.execute(
                "UPDATE release_requests SET key = ? WHERE request_id = ?", (key, request_id)
            )
            went.add(key)
    if len(went) == 1 and old_key not in new_keys:
        (key,) = went
        db.execute("UPDATE renamed_keys SET new = ? WHERE new = ?", (key, old_key))
        db.execute("INSERT OR REPLACE INTO renamed_keys VALUES (?, ?)", (old_key, key))
