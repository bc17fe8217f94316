"""Matching a dossier's media against the hash lists the hub follows, with quarantine.

Every media reference of a dossier is matched in one batch per kind: exact SHA-256
and MD5, and PDQ within the threshold (a PDQ hash of quality below 50 never). A
match is recorded under the hub key it belongs to (``sha256:<hex>`` for exact
digests, the PDQ cluster's ``pdq:cluster-…`` for PDQ), so every holder of that key
learns that it is known material.

**Quarantine** (protection against over-matching): an entry that has matched
more than ``quarantine_after`` distinct media (by SHA-256) and that its owner has
not confirmed is quarantined: its matches are still recorded and shown, marked
``QUARANTINED``, but no longer make a key known material, until the owner
confirms the entry (a ``CONFIRM`` list update; then it matches again) or
disputes it (``DISPUTE``; then it matches nothing). The owner is told of the
quarantine once per entry version (:meth:`ListMatcher.quarantine_due`, sent by the
hub service as described in :mod:`broker.hub.quarantine`). Every match carries the
entry's status (``ADD``, ``CONFIRM`` or ``QUARANTINED``), so the owners' feedback
is shown with every hit.

Example::

    >>> import sqlite3
    >>> from broker.hashlist import ListState
    >>> db = sqlite3.connect(":memory:", isolation_level=None)
    >>> m = ListMatcher(db, ListState(db, snapshot=None), quarantine_after=3)
    >>> m.quarantined()
    []
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from broker.hashlist import ListHit, ListState
from broker.hub.quarantine import Quarantined
from broker.models import MediaReference

__all__ = ["DEFAULT_QUARANTINE_AFTER", "ListMatch", "ListMatcher", "ListResult"]

#: Distinct media an unconfirmed entry may match before it is quarantined.
DEFAULT_QUARANTINE_AFTER = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS list_media (
    topic TEXT NOT NULL, entry_id TEXT NOT NULL, media TEXT NOT NULL,
    PRIMARY KEY (topic, entry_id, media)
);
CREATE TABLE IF NOT EXISTS list_key_hits (
    key TEXT NOT NULL, topic TEXT NOT NULL, entry_id TEXT NOT NULL, kind TEXT NOT NULL,
    distance INTEGER NOT NULL, PRIMARY KEY (key, topic, entry_id)
);
CREATE TABLE IF NOT EXISTS list_quarantine_notices (
    topic TEXT NOT NULL, entry_id TEXT NOT NULL, version INTEGER NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (topic, entry_id, version)
);
"""

#: Record one entry's match under one key (its closest distance if matched before).
_RECORD_HIT = (
    "INSERT INTO list_key_hits VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(key, topic, entry_id) DO UPDATE SET distance = min(distance, excluded.distance)"
)


@dataclass(frozen=True, kw_only=True)
class ListMatch:
    """One list entry matched under one hub key, with the entry's current status."""

    key: str
    list: str
    list_owner: str
    entry_id: str
    category: str | None
    series: str | None
    kind: str
    distance: int
    status: str

    @property
    def counts(self) -> bool:
        """Whether this match makes its key known material (not quarantined)."""
        return self.status != "QUARANTINED"


@dataclass(frozen=True, kw_only=True)
class ListResult:
    """What matching one dossier's media found."""

    #: Matches by hub key (``sha256:…`` or ``pdq:cluster-…``), quarantined ones included.
    by_key: dict[str, list[ListMatch]]
    #: Media references matched (not only by quarantined entries) per (list, owner, category).
    counts: dict[tuple[str, str, str | None], int]
    #: Media references matched by at least one entry that is not quarantined.
    matched: int
    #: ``(topic, entry_id)`` of every entry that matched (for the quarantine check).
    entries: frozenset[tuple[str, str]] = frozenset()


class ListMatcher:
    """The hub's list matching: batched queries, per-key records, quarantine."""

    def __init__(
        self,
        db: sqlite3.Connection,
        state: ListState,
        *,
        quarantine_after: int = DEFAULT_QUARANTINE_AFTER,
        pdq_threshold: int = 31,
    ) -> None:
        self._db = db
        db.executescript(SCHEMA)
        self.state = state
        self.quarantine_after = quarantine_after
        self.pdq_threshold = pdq_threshold

    def match_media(self, media: Sequence[MediaReference], pdq_keys: dict[str, str]) -> ListResult:
        """Match ``media`` (in one batch per kind) and record the hits; return what was found.

        ``pdq_keys`` maps each (lower-case) PDQ hash to its cluster key.
        """
        sha = [m.sha256 for m in media]
        md5_media = [m for m in media if m.md5]
        pdq_media = [
            m
            for m in media
            if m.perceptual_hash
            and (m.perceptual_algorithm or "").upper() == "PDQ"
            and not m.perceptual_low_quality
        ]
        found: list[tuple[MediaReference, str, ListHit]] = []
        for hit in self.state.match(sha256=sha):
            found.append((media[hit.query], f"sha256:{media[hit.query].sha256}", hit))
        for hit in self.state.match(md5=[str(m.md5) for m in md5_media]):
            found.append((md5_media[hit.query], f"sha256:{md5_media[hit.query].sha256}", hit))
        pdq = [str(m.perceptual_hash).lower() for m in pdq_media]
        for hit in self.state.match(pdq=pdq, threshold=self.pdq_threshold):
            found.append((pdq_media[hit.query], f"pdq:{pdq_keys[pdq[hit.query]]}", hit))
        self._db.execute("BEGIN")
        try:
            for m, key, hit in found:
                e = hit.entry
                self._db.execute(
                    "INSERT OR IGNORE INTO list_media VALUES (?, ?, ?)",
                    (e.topic, e.entry_id, m.sha256),
                )
                self._db.execute(
                    _RECORD_HIT,
                    (key, e.topic, e.entry_id, hit.kind, hit.distance),
                )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        by_key = {key: self.matches(key) for key in sorted({k for _, k, _ in found})}
        status = {(m.list_owner, m.list, m.entry_id): m for ms in by_key.values() for m in ms}
        per_media: dict[str, set[tuple[str, str, str | None]]] = {}
        for m, _, hit in found:
            e = hit.entry
            match = status.get((e.owner, e.list, e.entry_id))
            if match is not None and match.counts:
                per_media.setdefault(m.sha256, set()).add((e.list, e.owner, e.category))
        counts: dict[tuple[str, str, str | None], int] = {}
        for groups in per_media.values():
            for group in groups:
                counts[group] = counts.get(group, 0) + 1
        touched = frozenset((hit.entry.topic, hit.entry.entry_id) for _, _, hit in found)
        return ListResult(by_key=by_key, counts=counts, matched=len(per_media), entries=touched)

    def rematch(self, key: str, pdq: Sequence[str]) -> None:
        """Record again what PDQ cluster ``key`` matches, from its members ``pdq`` as they are now.

        For a cluster a recall changed (a member left, or it split or was renamed): a hit
        that only the recalled dossier's hash made goes, hits of the others stay. Runs in
        the caller's transaction.
        """
        self._db.execute("DELETE FROM list_key_hits WHERE key = ?", (key,))
        for hit in self.state.match(pdq=list(pdq), threshold=self.pdq_threshold):
            self._db.execute(
                _RECORD_HIT,
                (key, hit.entry.topic, hit.entry.entry_id, hit.kind, hit.distance),
            )

    def rematch_clusters(self, moved: dict[str, dict[str, str]]) -> None:
        """:meth:`rematch` every cluster a recall changed (old id -> {member: new id});
        forget an old id no member kept. Runs in the caller's transaction."""
        for old, members in moved.items():
            clusters: dict[str, list[str]] = {}
            for h, cluster in members.items():
                clusters.setdefault(cluster, []).append(h)
            if old not in clusters:
                self.forget(f"pdq:{old}")
            for cluster, hashes in clusters.items():
                self.rematch(f"pdq:{cluster}", hashes)

    def forget(self, key: str) -> None:
        """Drop the hits of a key nothing is held under any more (and, for a ``sha256:`` key,
        that media's count toward quarantine). Runs in the caller's transaction."""
        self._db.execute("DELETE FROM list_key_hits WHERE key = ?", (key,))
        if key.startswith("sha256:"):
            self._db.execute(
                "DELETE FROM list_media WHERE media = ?", (key.removeprefix("sha256:"),)
            )

    def _status(self, topic: str, entry_id: str, op: str) -> str:
        if op == "CONFIRM":
            return "CONFIRM"
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM list_media WHERE topic = ? AND entry_id = ?", (topic, entry_id)
        ).fetchone()
        return "QUARANTINED" if int(count) > self.quarantine_after else op

    def matches(self, key: str) -> list[ListMatch]:
        """Return the live list entries recorded under ``key``, with their current status.

        A withdrawn or disputed entry is not returned: it stopped matching.
        """
        out = []
        for topic, entry_id, kind, distance in self._db.execute(
            "SELECT topic, entry_id, kind, distance FROM list_key_hits WHERE key = ? "
            "ORDER BY topic, entry_id",
            (key,),
        ).fetchall():
            row = self._db.execute(
                "SELECT owner, list, op, category, series FROM list_entries "
                "WHERE topic = ? AND entry_id = ?",
                (topic, entry_id),
            ).fetchone()
            if row is None or row[2] not in ("ADD", "CONFIRM"):
                continue
            out.append(
                ListMatch(
                    key=key,
                    list=str(row[1]),
                    list_owner=str(row[0]),
                    entry_id=str(entry_id),
                    category=row[3],
                    series=row[4],
                    kind=str(kind),
                    distance=int(distance),
                    status=self._status(str(topic), str(entry_id), str(row[2])),
                )
            )
        return out

    def is_known(self, key: str) -> bool:
        """Whether a live, unquarantined list entry matches ``key``."""
        return any(m.counts for m in self.matches(key))

    def quarantined(self) -> list[tuple[str, str, int]]:
        """Return ``(topic, entry_id, distinct media)`` of every quarantined entry."""
        out = []
        for topic, entry_id, count in self._db.execute(
            "SELECT topic, entry_id, COUNT(*) FROM list_media GROUP BY topic, entry_id "
            "HAVING COUNT(*) > ?",
            (self.quarantine_after,),
        ).fetchall():
            row = self._db.execute(
                "SELECT op FROM list_entries WHERE topic = ? AND entry_id = ?", (topic, entry_id)
            ).fetchone()
            if row is not None and row[0] == "ADD":
                out.append((str(topic), str(entry_id), int(count)))
        return out

    def quarantine_due(
        self, entries: frozenset[tuple[str, str]] | None = None
    ) -> list[Quarantined]:
        """Return the quarantined entries whose owner was not yet told (of this version).

        ``entries`` (``(topic, entry_id)``, e.g. :attr:`ListResult.entries`) limits the check
        to those entries, each counted through the primary key; ``None`` checks every entry.
        """
        if entries is None:
            candidates = self.quarantined()
        else:
            candidates = []
            for topic, entry_id in sorted(entries):
                (media,) = self._db.execute(
                    "SELECT COUNT(*) FROM list_media WHERE topic = ? AND entry_id = ?",
                    (topic, entry_id),
                ).fetchone()
                if int(media) > self.quarantine_after:
                    candidates.append((topic, entry_id, int(media)))
        out = []
        for topic, entry_id, media in candidates:
            row = self._db.execute(
                "SELECT row FROM list_entries WHERE topic = ? AND entry_id = ?", (topic, entry_id)
            ).fetchone()
            entry = None if row is None else self.state.entry(int(row[0]))
            if entry is None or entry.op != "ADD":  # confirmed, disputed or withdrawn
                continue
            told = self._db.execute(
                "SELECT 1 FROM list_quarantine_notices WHERE topic = ? AND entry_id = ? "
                "AND version = ?",
                (topic, entry_id, entry.version),
            ).fetchone()
            if told is None:
                out.append(Quarantined(entry=entry, media=media))
        return out

    def mark_quarantine_notified(self, q: Quarantined, *, at: str) -> None:
        """Record that the owner of ``q`` was told (``at``: ISO time)."""
        self._db.execute(
            "INSERT OR IGNORE INTO list_quarantine_notices VALUES (?, ?, ?, ?)",
            (q.entry.topic, q.entry.entry_id, q.entry.version, at),
        )
