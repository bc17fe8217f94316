"""The hub's PDQ holdings: near-duplicate clusters over an exact multi-index-hashing index.

Every distinct PDQ hash the hub was sent is a row of the ``pdq`` table (its SQLite
``rowid`` is its id in a :class:`~broker.matching.HashIndex`). A cluster is a
connected component of the graph joining hashes within the threshold (default 31
bits), so it depends only on the set of hashes, never on the order they arrived
in. A batch of new hashes is clustered in one batched query: each new hash's
neighbours (old or new) are found through the index, and the components they
join are merged with union-find. Nothing is compared pair by pair.

A cluster's id is ``cluster-`` + :func:`broker.matching.cluster_name` of its
smallest hash (lower-case hex order = byte order; member id 0), under the hub's
secret cluster key (kept in ``meta``): deterministic, and opaque to anyone
without the key (red-team F11). When clusters merge, or a smaller hash joins,
the id changes: :meth:`PdqClusters.assign` returns ``old -> new`` renames and the
hub index re-keys its holdings, notifications and release requests.

Which dossier holds which hash is kept in ``pdq_held`` (a holding keeps one value per
cluster, so two hashes of one dossier in one cluster would otherwise be invisible). A
recall (:meth:`PdqClusters.erase`) deletes every hash no dossier holds any more from
``pdq`` and, once the transaction commits, withdraws it from the index; the clusters it
was in are recomputed from their remaining members (a component minus a node splits
into components of its members, so this is exact), which may rename them (a new
smallest member) or split them.

The index is saved (verified snapshot, :meth:`broker.matching.HashIndex.save`)
next to ``hub.db`` when the hub closes; opening loads it memory-mapped and adds
only the rows written since (a crash loses no row, only some re-indexing work), and
withdraws the rows erased since, if any (``meta`` notes an erasure until the next
save; ids are never reused, so "written since" is "id above the snapshot's largest").
A save after an erasure (or a rolled-back batch) compacts the index first, so the saved
files hold no withdrawn hash. Until that save (the hub's close) the previous snapshot
still holds an erased hash; the table and the live index no longer do.

Example::

    >>> import sqlite3
    >>> db = sqlite3.connect(":memory:", isolation_level=None)
    >>> _ = db.executescript(SCHEMA)
    >>> c = PdqClusters(db, snapshot=None, key=b"k" * 32)
    >>> got, renames = c.assign(["00" * 32, "00" * 31 + "01", "ff" * 32])
    >>> got["00" * 32] == got["00" * 31 + "01"] != got["ff" * 32], renames
    (True, {})
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from broker.errors import IndexCorruptError
from broker.home import private_tree
from broker.matching import DEFAULT_THRESHOLD, Entries, HashIndex, cluster_name, clusters_of
from broker.matching.pdq import parse_hex

__all__ = ["CLUSTER_PREFIX", "SCHEMA", "PdqClusters", "cluster_id_of"]

log = logging.getLogger(__name__)

#: PDQ cluster ids (``pdq:cluster-<32 hex>``): opaque, never a member's hash.
CLUSTER_PREFIX = "cluster-"
#: The ``meta`` value of ``pdq_cluster_ids`` once clusters are components with HMAC ids.
CLUSTER_SCHEME = "hmac-components-v1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS pdq (hash TEXT PRIMARY KEY, cluster TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pdq_cluster ON pdq(cluster);
CREATE TABLE IF NOT EXISTS pdq_held (
    agency TEXT NOT NULL, envelope_id TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (agency, envelope_id, hash)
);
CREATE INDEX IF NOT EXISTS pdq_held_hash ON pdq_held(hash);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
#: The ``meta`` key set while a hash erased from ``pdq`` may still be in the saved snapshot.
_UNSAVED = "pdq_erased_since_save"


def cluster_id_of(key: bytes, smallest: str) -> str:
    """Return the id of the cluster whose smallest hash is ``smallest`` (64 hex digits)."""
    return CLUSTER_PREFIX + cluster_name(key, bytes.fromhex(smallest))


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class PdqClusters:
    """Distinct PDQ hashes of the hub's holdings, indexed and clustered."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        snapshot: Path | None,
        key: bytes,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        self._db = db
        self._snapshot = snapshot
        self._key = key
        self.threshold = threshold
        self._dirty = False
        self._pending: list[int] = []
        self._erased: list[int] = []
        self.index = self._open_index()
        self._next = -1  # the next row id, once known (see _next_id)

    def _open_index(self) -> HashIndex:
        index = HashIndex()
        if self._snapshot is not None and (self._snapshot / "CURRENT").exists():
            try:
                index = HashIndex.load(self._snapshot)
            except IndexCorruptError as exc:
                log.warning("hub PDQ index snapshot not loaded (%s); rebuilding", exc)
                index = HashIndex()
        covered = index.max_id()
        rows = self._db.execute(
            "SELECT rowid, hash FROM pdq WHERE rowid > ? ORDER BY rowid",
            (-1 if covered is None else covered,),
        ).fetchall()
        if rows:
            index.add(Entries.parse([int(r[0]) for r in rows], pdq=[str(r[1]) for r in rows]))
            self._dirty = True
        if (
            covered is not None
            and self._db.execute("SELECT 1 FROM meta WHERE key = ?", (_UNSAVED,)).fetchone()
        ):
            # Rows erased after the snapshot was saved (a crash before the next save).
            present = {int(r[0]) for r in self._db.execute("SELECT rowid FROM pdq")}
            ids = index.pdq_rows()[0].tolist()
            index.withdraw(ids=[i for i in ids if i not in present])
            self._dirty = True
        return index

    def _next_id(self) -> int:
        """Never reuse an id (of an erased or rolled-back row): the index may still know it.

        Worked out once (the index's largest id is a scan of its id arrays), then counted on
        while this process is the only one adding rows.
        """
        top = self._db.execute("SELECT MAX(rowid) FROM pdq").fetchone()[0]
        if self._next < 0:
            seen = self.index.max_id()
            self._next = max(-1 if top is None else int(top), -1 if seen is None else seen) + 1
        # Another process (a second hub writer) may have added rows since: never below them.
        self._next = max(self._next, (-1 if top is None else int(top)) + 1)
        return self._next

    def save(self) -> None:
        """Save the index next to ``hub.db`` if it changed (files 0600, directories 0700)."""
        if self._snapshot is None or not self._dirty:
            return
        stats = self.index.stats()["pdq"]
        if stats["live"] != stats["rows"]:
            self.index.compact()  # the saved files must not keep an erased hash
        self.index.save(self._snapshot)
        private_tree(self._snapshot)
        self._db.execute("DELETE FROM meta WHERE key = ?", (_UNSAVED,))
        self._dirty = False

    def _clusters_of(self, hashes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for h in hashes:
            row = self._db.execute("SELECT cluster FROM pdq WHERE hash = ?", (h,)).fetchone()
            if row is not None:
                out[h] = str(row[0])
        return out

    def assign(self, hashes: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Cluster ``hashes`` (lower-case hex) with every stored one, in the caller's transaction.

        Returns the cluster id of each hash, and the ids renamed (old -> new) by merges.
        """
        wanted = sorted({h.lower() for h in hashes})
        parse_hex(wanted)  # typed error on a malformed hash, before anything is written
        known = self._clusters_of(wanted)
        new = [h for h in wanted if h not in known]
        if not new:
            return known, {}
        first = self._next_id()
        rowid = {h: first + i for i, h in enumerate(new)}
        self._db.executemany(
            "INSERT INTO pdq (rowid, hash, cluster) VALUES (?, ?, '')",
            [(rowid[h], h) for h in new],
        )
        self.index.add(Entries.parse([rowid[h] for h in new], pdq=new))
        self._pending = [rowid[h] for h in new]
        self._next = first + len(new)
        self._dirty = True
        matches = self.index.query_batch(new, threshold=self.threshold)
        # The neighbours' own hashes and clusters (new rows have cluster '').
        neighbour: dict[int, tuple[str, str]] = {}
        for ref in sorted(set(matches.id.tolist())):
            h, c = self._db.execute(
                "SELECT hash, cluster FROM pdq WHERE rowid = ?", (ref,)
            ).fetchone()
            neighbour[int(ref)] = (str(h), str(c))
        union = _Union()
        for h in new:
            union.find("h:" + h)
        for q, ref in zip(matches.query.tolist(), matches.id.tolist(), strict=True):
            other_hash, other_cluster = neighbour[int(ref)]
            other = "c:" + other_cluster if other_cluster else "h:" + other_hash
            union.union("h:" + new[q], other)
        groups: dict[str, list[str]] = {}
        for node in list(union.parent):
            groups.setdefault(union.find(node), []).append(node)
        renames: dict[str, str] = {}
        for members in groups.values():
            olds = sorted(m[2:] for m in members if m.startswith("c:"))
            fresh = sorted(m[2:] for m in members if m.startswith("h:"))
            candidates = fresh[:1]  # every group holds at least one new hash
            for old in olds:
                row = self._db.execute(
                    "SELECT MIN(hash) FROM pdq WHERE cluster = ?", (old,)
                ).fetchone()
                candidates += [str(row[0])] if row[0] is not None else []
            smallest = min(candidates)
            name = cluster_id_of(self._key, smallest)
            self._db.executemany(
                "UPDATE pdq SET cluster = ? WHERE hash = ?", [(name, h) for h in fresh]
            )
            for old in olds:
                if old != name:
                    self._db.execute("UPDATE pdq SET cluster = ? WHERE cluster = ?", (name, old))
                    renames[old] = name
            for h in fresh:
                known[h] = name
        for h, c in list(known.items()):
            known[h] = renames.get(c, c)
        return known, renames

    def hold(self, hashes: Sequence[str], *, agency: str, envelope_id: str) -> None:
        """Record that ``agency``'s ``envelope_id`` holds ``hashes`` (caller's transaction)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO pdq_held VALUES (?, ?, ?)",
            [(agency, envelope_id, h.lower()) for h in hashes],
        )

    def erase(self, *, agency: str, envelope_id: str) -> dict[str, dict[str, str]]:
        """Forget what ``agency``'s ``envelope_id`` held, in the caller's transaction.

        Every hash no other dossier holds leaves ``pdq`` (and the index, at :meth:`commit`),
        and each cluster that lost one is recomputed from its remaining members. Returns,
        for each such old cluster id, its remaining members' hashes with their cluster ids
        now (empty: the cluster is gone).
        """
        held = [
            str(r[0])
            for r in self._db.execute(
                "SELECT hash FROM pdq_held WHERE agency = ? AND envelope_id = ?",
                (agency, envelope_id),
            )
        ]
        self._db.execute(
            "DELETE FROM pdq_held WHERE agency = ? AND envelope_id = ?", (agency, envelope_id)
        )
        touched: set[str] = set()
        for h in held:
            if self._db.execute("SELECT 1 FROM pdq_held WHERE hash = ?", (h,)).fetchone():
                continue  # another dossier still holds it
            row = self._db.execute("SELECT rowid, cluster FROM pdq WHERE hash = ?", (h,)).fetchone()
            if row is None:
                continue
            self._erased.append(int(row[0]))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, '1')", (_UNSAVED,))
            touched.add(str(row[1]))
            self._db.execute("DELETE FROM pdq WHERE rowid = ?", (int(row[0]),))
        out: dict[str, dict[str, str]] = {}
        for old in sorted(touched):
            rows = self._db.execute(
                "SELECT hash FROM pdq WHERE cluster = ? ORDER BY hash", (old,)
            ).fetchall()
            hashes = [str(r[0]) for r in rows]
            out[old] = {}
            if not hashes:
                continue
            found = clusters_of(
                np.zeros(len(hashes), dtype=np.uint64),  # member id 0, as cluster_id_of
                parse_hex(hashes),
                key=self._key,
                threshold=self.threshold,
            )
            for h, name in zip(hashes, found.cluster_of_rows(), strict=True):
                out[old][h] = CLUSTER_PREFIX + name
                if out[old][h] != old:
                    self._db.execute("UPDATE pdq SET cluster = ? WHERE hash = ?", (out[old][h], h))
        return out

    def commit(self) -> None:
        """The caller's transaction committed: the rows of the last :meth:`assign` stay, and
        the rows of the last :meth:`erase` leave the index."""
        if self._erased:
            self.index.withdraw(ids=self._erased)
            self._dirty = True
        self._pending, self._erased = [], []

    def rollback(self) -> None:
        """The caller's transaction rolled back: withdraw the rows of the last :meth:`assign`
        (the rows of the last :meth:`erase` stay)."""
        if self._pending:
            self.index.withdraw(ids=self._pending)
        self._pending, self._erased = [], []

    def recluster(self) -> dict[str, str]:
        """Recompute every cluster and id from scratch; return the ids renamed (old -> new).

        Used once to migrate a hub.db whose clusters came from arrival order.
        """
        rows = self._db.execute("SELECT hash, cluster FROM pdq ORDER BY hash").fetchall()
        if not rows:
            return {}
        hashes = [str(r[0]) for r in rows]
        found = clusters_of(
            np.zeros(len(hashes), dtype=np.uint64),
            parse_hex(hashes),
            key=self._key,
            threshold=self.threshold,
        )
        renames: dict[str, str] = {}
        for (h, old), name in zip(rows, found.cluster_of_rows(), strict=True):
            new = CLUSTER_PREFIX + name
            self._db.execute("UPDATE pdq SET cluster = ? WHERE hash = ?", (new, h))
            if str(old) != new:
                renames[str(old)] = new
        return renames
