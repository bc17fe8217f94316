"""A subscriber's copy of hash lists: the replay of their topics, indexed for matching.

:class:`ListState` keeps every entry's latest update (SQLite, in the subscriber's
database) and a :class:`~broker.matching.HashIndex` of the *matchable* ones: added
or confirmed, not withdrawn, not disputed. Applying an update is one transaction
that also stores the topic offset it came from, so a restarted subscriber
resumes where it stopped and its state is always the replay of a topic prefix.
A newer version of an entry retires the entry's old index row (a tombstone, so
it stops matching at once) and indexes the new one. The index is saved next to
the database on :meth:`ListState.close` and loaded (memory-mapped, verified)
when opened; rows written since the snapshot are added, rows retired since are
withdrawn, so a restart never rebuilds the lists.

Example::

    >>> import sqlite3
    >>> db = sqlite3.connect(":memory:", isolation_level=None)
    >>> state = ListState(db, snapshot=None)
    >>> u = ListUpdate(list="hot", owner="ES-PN", key_id="k", entry_id="e1", version=1,
    ...                op="ADD", sha256="ab" * 32, category="A")
    >>> state.apply([Applied(topic="fed.hashlist.ES-PN.hot", partition=0, offset=0, update=u)])
    1
    >>> [h.entry_id for h in state.match(sha256=["ab" * 32])]
    ['e1']
    >>> _ = state.apply([Applied(topic="fed.hashlist.ES-PN.hot", partition=0, offset=1,
    ...                          update=u.then("WITHDRAW"))])
    >>> state.match(sha256=["ab" * 32])
    []
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.errors import IndexCorruptError
from broker.hashlist.update import ListUpdate
from broker.home import private_tree
from broker.matching import DEFAULT_THRESHOLD, Entries, HashIndex, Matches

__all__ = ["ASSESSMENTS", "SCHEMA", "Applied", "ListEntry", "ListHit", "ListState"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS list_entries (
    row INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, owner TEXT NOT NULL,
    list TEXT NOT NULL, entry_id TEXT NOT NULL, version INTEGER NOT NULL, op TEXT NOT NULL,
    sha256 TEXT, md5 TEXT, pdq TEXT, category TEXT, series TEXT, source TEXT, note TEXT,
    at TEXT NOT NULL, UNIQUE (topic, entry_id)
);
CREATE TABLE IF NOT EXISTS list_retired (row INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS list_offsets (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
_MATCHABLE = ("ADD", "CONFIRM")
_COLUMNS = (
    "row", "topic", "owner", "list", "entry_id", "version", "op", "sha256", "md5", "pdq",
    "category", "series", "source", "note",
)  # fmt: skip
_SELECT = (
    "SELECT row, topic, owner, list, entry_id, version, op, sha256, md5, pdq, category, series, "
    "source, note FROM list_entries "
)
#: A member's list of its analysts' assessments (broker.hotline.confirm): stored, never
#: matched as known material; the shared list derived from them by the two-analyst rule is.
ASSESSMENTS = "assessments"
_TAIL = (
    _SELECT + f"WHERE row > ? AND op IN ('ADD', 'CONFIRM') AND list != '{ASSESSMENTS}' ORDER BY row"
)
_BY_ROW = _SELECT + "WHERE row = ?"
_ALL = _SELECT + "ORDER BY topic, entry_id"
_BY_TOPIC = _SELECT + "WHERE topic = ? ORDER BY entry_id"


@dataclass(frozen=True, kw_only=True)
class Applied:
    """An update read from ``topic``/``partition`` at ``offset`` (verified by the caller)."""

    topic: str
    partition: int
    offset: int
    update: ListUpdate


@dataclass(frozen=True, kw_only=True)
class ListEntry:
    """One entry of a list as the subscriber holds it."""

    row: int
    topic: str
    owner: str
    list: str
    entry_id: str
    version: int
    op: str
    sha256: str | None
    md5: str | None
    pdq: str | None
    category: str | None
    series: str | None
    source: str | None
    note: str | None


@dataclass(frozen=True, kw_only=True)
class ListHit:
    """Query ``query`` matched ``entry`` by ``kind`` at ``distance`` bits (0 for exact)."""

    query: int
    kind: str
    distance: int
    entry: ListEntry

    @property
    def entry_id(self) -> str:
        """The entry's id."""
        return self.entry.entry_id


class ListState:
    """The lists a subscriber follows: entries in SQLite, matchable ones in a hash index."""

    def __init__(self, db: sqlite3.Connection, *, snapshot: Path | None) -> None:
        self._db = db
        db.executescript(SCHEMA)
        self._snapshot = snapshot
        self._dirty = False
        self.index = self._open_index()

    # -- index persistence ----------------------------------------------------------

    def _open_index(self) -> HashIndex:
        index = HashIndex()
        if self._snapshot is not None and (self._snapshot / "CURRENT").exists():
            try:
                index = HashIndex.load(self._snapshot)
            except IndexCorruptError:
                index = HashIndex()
        covered = index.max_id()
        rows = self._rows(_TAIL, (-1 if covered is None else covered,))
        self._index_rows(index, rows)
        if covered is not None:
            retired = [int(r[0]) for r in self._db.execute("SELECT row FROM list_retired")]
            if retired:
                index.withdraw(ids=retired)
        self._dirty = bool(rows)
        return index

    @staticmethod
    def _index_rows(index: HashIndex, rows: Sequence[ListEntry]) -> None:
        for kind in ("sha256", "md5", "pdq"):
            have = [e for e in rows if getattr(e, kind)]
            if have:
                values = [str(getattr(e, kind)) for e in have]
                index.add(Entries.parse([e.row for e in have], **{kind: values}))

    def save(self) -> None:
        """Save the index next to the database if it changed (files 0600, directories 0700)."""
        if self._snapshot is None or not self._dirty:
            return
        self.index.save(self._snapshot)
        private_tree(self._snapshot)
        self._dirty = False

    def close(self) -> None:
        """Save the index (the database is the caller's)."""
        self.save()

    # -- applying updates -----------------------------------------------------------

    def _rows(self, query: str, args: tuple[object, ...] = ()) -> list[ListEntry]:
        return [
            ListEntry(**dict(zip(_COLUMNS, r, strict=True))) for r in self._db.execute(query, args)
        ]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Return the next offset to read of every (topic, partition) applied so far."""
        return {
            (str(t), int(p)): int(n)
            for t, p, n in self._db.execute("SELECT topic, partition, next FROM list_offsets")
        }

    def advance(self, topic: str, partition: int, next_offset: int) -> None:
        """Record that ``topic``/``partition`` was read up to ``next_offset`` (a skipped record)."""
        self._db.execute(
            "INSERT INTO list_offsets VALUES (?, ?, ?) ON CONFLICT(topic, partition) "
            "DO UPDATE SET next = max(next, excluded.next)",
            (topic, partition, next_offset),
        )

    def apply(self, batch: Sequence[Applied]) -> int:
        """Apply verified updates in one transaction; return how many changed an entry.

        An update whose version is not newer than the entry's is skipped (a replay).
        """
        self._db.execute("BEGIN IMMEDIATE")
        fresh: list[ListEntry] = []
        try:
            changed = 0
            for item in batch:
                u = item.update
                old = self._db.execute(
                    "SELECT row, version FROM list_entries WHERE topic = ? AND entry_id = ?",
                    (item.topic, u.entry_id),
                ).fetchone()
                self._db.execute(
                    "INSERT INTO list_offsets VALUES (?, ?, ?) ON CONFLICT(topic, partition) "
                    "DO UPDATE SET next = max(next, excluded.next)",
                    (item.topic, item.partition, item.offset + 1),
                )
                if old is not None and int(old[1]) >= u.version:
                    continue
                if old is not None:
                    self._db.execute("DELETE FROM list_entries WHERE row = ?", (old[0],))
                    self._db.execute("INSERT OR IGNORE INTO list_retired VALUES (?)", (old[0],))
                    self.index.withdraw(ids=[int(old[0])])
                cur = self._db.execute(
                    "INSERT INTO list_entries (topic, owner, list, entry_id, version, op, sha256, "
                    "md5, pdq, category, series, source, note, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.topic, u.owner, u.list, u.entry_id, u.version, u.op, u.sha256,
                        u.md5, u.pdq, u.category, u.series, u.source, u.note, u.at.isoformat(),
                    ),
                )  # fmt: skip
                changed += 1
                if u.op in _MATCHABLE and u.list != ASSESSMENTS:
                    row = int(cur.lastrowid or 0)
                    fresh.append(self._rows(_BY_ROW, (row,))[0])
            self._index_rows(self.index, fresh)
        except BaseException:
            self._db.execute("ROLLBACK")
            if fresh:
                self.index.withdraw(ids=[e.row for e in fresh])
            raise
        self._db.execute("COMMIT")
        self._dirty = self._dirty or changed > 0
        return changed

    # -- reading --------------------------------------------------------------------

    def entry(self, row: int) -> ListEntry | None:
        """Return the entry held in ``row``."""
        rows = self._rows(_BY_ROW, (row,))
        return rows[0] if rows else None

    def entries(self, *, topic: str | None = None) -> list[ListEntry]:
        """Return every entry (of one list's topic, if given), withdrawn ones included."""
        if topic is None:
            return self._rows(_ALL)
        return self._rows(_BY_TOPIC, (topic,))

    def match(
        self,
        *,
        sha256: Sequence[str] = (),
        md5: Sequence[str] = (),
        pdq: Sequence[str] = (),
        threshold: int = DEFAULT_THRESHOLD,
    ) -> list[ListHit]:
        """Return every matchable entry equal to a digest or within ``threshold`` of a PDQ hash.

        Each sequence is a batch; ``ListHit.query`` indexes into its own sequence.
        """
        found: list[tuple[str, Matches]] = []
        if sha256:
            found.append(("sha256", self.index.lookup_exact(list(sha256), kind="sha256")))
        if md5:
            found.append(("md5", self.index.lookup_exact(list(md5), kind="md5")))
        if pdq:
            found.append(("pdq", self.index.query_batch(list(pdq), threshold=threshold)))
        out: list[ListHit] = []
        cache: dict[int, ListEntry | None] = {}
        for kind, matches in found:
            for q, ref, d in matches.pairs():
                if ref not in cache:
                    cache[ref] = self.entry(ref)
                entry = cache[ref]
                if entry is not None:
                    out.append(ListHit(query=q, kind=kind, distance=d, entry=entry))
        return out
