"""The hub's index: who holds which selector or media hash, in SQLite.

Keys are normalized selectors (:func:`broker.models.normalize_selector`),
``sha256:<hex>`` for exact media hashes, and ``pdq:cluster-<32 hex>`` for
perceptual hashes, which match within a Hamming distance (default 31 of 256
bits). PDQ clusters are connected components found through an exact
multi-index-hashing index (:mod:`broker.hub.pdq`): independent of arrival order,
with opaque HMAC ids that are never a member's hash: it is the ``hit_key`` every
member is sent, so no agency learns another's exact hash (red-team F11); each
holding keeps its own hash as the value shown to its owner. A PDQ hash of
quality below 50 (``MediaReference.perceptual_low_quality``) is never matched.
When clusters merge (or a recall renames or splits one), their keys are renamed
everywhere (holdings, notifications, release requests), and grants naming an old key
still resolve (:meth:`HubIndex.current_key`; :mod:`broker.hub.rekey` for a split); an
index written with founder-hash or arrival-order clusters is migrated when opened.
A key held by two or more agencies is a cross-border link; a media hash on the
known-material list is a known-material hit.

Example::

    >>> import tempfile, pathlib
    >>> idx = HubIndex.open(pathlib.Path(tempfile.mkdtemp()) / "hub.db")
    >>> idx.links(), idx.known_hits()
    ({}, {})
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker._internal.sqlite import open_wal
from broker.errors import ConfigError
from broker.hashlist import ListState
from broker.hub.keys import dossier_keys
from broker.hub.lists import DEFAULT_QUARANTINE_AFTER, ListMatcher, ListResult
from broker.hub.pdq import CLUSTER_PREFIX, CLUSTER_SCHEME, PdqClusters
from broker.hub.pdq import SCHEMA as PDQ_SCHEMA
from broker.hub.rekey import backfill_held, rekey
from broker.matching import DEFAULT_THRESHOLD
from broker.models import Codes, Dossier

__all__ = ["CLUSTER_PREFIX", "Holding", "HubIndex"]

#: Re-key one table (rows the new key already has are merged into it, then dropped).
_RENAME_KEY = (
    "UPDATE OR IGNORE holdings SET key = ? WHERE key = ?",
    "DELETE FROM holdings WHERE key = ?",
    "UPDATE OR IGNORE notified SET key = ? WHERE key = ?",
    "DELETE FROM notified WHERE key = ?",
    "UPDATE release_requests SET key = ? WHERE key = ?",
    "UPDATE OR IGNORE list_key_hits SET key = ? WHERE key = ?",  # known material goes along
    "DELETE FROM list_key_hits WHERE key = ?",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS holdings (
    key TEXT NOT NULL, agency TEXT NOT NULL, envelope_id TEXT NOT NULL,
    restricted INTEGER NOT NULL, value TEXT NOT NULL, codes TEXT NOT NULL,
    PRIMARY KEY (key, agency, envelope_id)
);
CREATE INDEX IF NOT EXISTS holdings_key ON holdings(key);
CREATE INDEX IF NOT EXISTS holdings_envelope ON holdings(agency, envelope_id);
CREATE TABLE IF NOT EXISTS known (sha256 TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS notified (
    key TEXT NOT NULL, agency TEXT NOT NULL, others TEXT NOT NULL,
    PRIMARY KEY (key, agency)
);
CREATE TABLE IF NOT EXISTS release_requests (
    request_id TEXT PRIMARY KEY, key TEXT NOT NULL, owner TEXT NOT NULL,
    owner_envelope_id TEXT NOT NULL, requested_for TEXT NOT NULL,
    status TEXT NOT NULL, released_to TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS renamed_keys (old TEXT PRIMARY KEY, new TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS anonymous_parties (
    request_id TEXT NOT NULL, alias TEXT NOT NULL, agency TEXT NOT NULL,
    PRIMARY KEY (request_id, alias)
);
"""


@dataclass(frozen=True, kw_only=True)
class Holding:
    """One agency's dossier holding one key."""

    key: str
    agency: str
    envelope_id: str
    restricted: bool
    value: str
    codes: dict[str, Any]


class HubIndex:
    """Selector and hash index with link detection."""

    def __init__(
        self,
        *,
        db: sqlite3.Connection,
        pdq_threshold: int = DEFAULT_THRESHOLD,
        snapshot: Path | None = None,
        quarantine_after: int = DEFAULT_QUARANTINE_AFTER,
    ) -> None:
        self._db = db
        self.pdq_threshold = pdq_threshold
        row = db.execute("SELECT value FROM meta WHERE key = 'pdq_cluster_key'").fetchone()
        if row is None:
            row = (secrets.token_hex(32),)
            db.execute("INSERT INTO meta VALUES ('pdq_cluster_key', ?)", row)
        self.pdq = PdqClusters(
            db, snapshot=snapshot, key=bytes.fromhex(str(row[0])), threshold=pdq_threshold
        )
        lists = None if snapshot is None else snapshot.with_name(snapshot.name + "-lists")
        #: The hash lists the hub follows (the replay of their topics) and its matches on them.
        self.lists = ListMatcher(
            db,
            ListState(db, snapshot=lists),
            quarantine_after=quarantine_after,
            pdq_threshold=pdq_threshold,
        )

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        pdq_threshold: int = DEFAULT_THRESHOLD,
        quarantine_after: int = DEFAULT_QUARANTINE_AFTER,
    ) -> HubIndex:
        """Open (creating if needed) the index at ``path`` (its hash indexes beside it)."""
        try:
            db = open_wal(path, schema=_SCHEMA + PDQ_SCHEMA, busy_timeout_ms=10_000)
            db.execute("PRAGMA secure_delete = ON")  # an erased dossier's pages are zeroed
            index = cls(
                db=db,
                pdq_threshold=pdq_threshold,
                snapshot=path.with_name(path.name + ".pdq"),
                quarantine_after=quarantine_after,
            )
            index._migrate()
            backfill_held(db)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the hub index", detail=str(path)) from exc
        return index

    def close(self) -> None:
        """Save the hash indexes (if they changed) and close the database."""
        self.pdq.save()
        self.lists.state.save()
        self._db.close()

    def load_known_material(self, hashes: Iterable[str]) -> int:
        """Load a hotline-style known-material list of SHA-256 hashes; return the count."""
        rows = [(h.strip().lower(),) for h in hashes if h.strip()]
        self._db.executemany("INSERT OR IGNORE INTO known VALUES (?)", rows)
        return len(rows)

    def is_known(self, sha256: str) -> bool:
        """Whether a hash is on the (local, pre-hash-list) known-material list."""
        return (
            self._db.execute("SELECT 1 FROM known WHERE sha256 = ?", (sha256,)).fetchone()
            is not None
        )

    def known_key(self, key: str) -> bool:
        """Whether ``key`` is known material: on the local list, or matched by a hash list."""
        local = key.startswith("sha256:") and self.is_known(key.removeprefix("sha256:"))
        return local or self.lists.is_known(key)

    def match_lists(self, dossier: Dossier) -> ListResult:
        """Match a dossier's media against the followed hash lists (recording the matches)."""
        pdq_keys: dict[str, str] = {}
        for m in dossier.media:
            if m.perceptual_hash:
                h = m.perceptual_hash.lower()
                row = self._db.execute("SELECT cluster FROM pdq WHERE hash = ?", (h,)).fetchone()
                if row is not None:
                    pdq_keys[h] = str(row[0])
        return self.lists.match_media(dossier.media, pdq_keys)

    def _rename(self, renames: dict[str, str]) -> None:
        """Re-key PDQ clusters ``old -> new`` everywhere; old keys keep resolving for grants."""
        for old, new in renames.items():
            old_key, new_key = f"pdq:{old}", f"pdq:{new}"
            for statement in _RENAME_KEY:
                args = (old_key,) if statement.startswith("DELETE") else (new_key, old_key)
                self._db.execute(statement, args)
            self._db.execute("UPDATE renamed_keys SET new = ? WHERE new = ?", (new_key, old_key))
            self._db.execute(
                "INSERT OR REPLACE INTO renamed_keys VALUES (?, ?)", (old_key, new_key)
            )

    def _migrate(self) -> None:
        """Give clusters made in arrival order (or keyed by a founder hash) component ids."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'pdq_cluster_ids'").fetchone()
        if row is not None and row[0] == CLUSTER_SCHEME:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._rename(self.pdq.recluster())
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('pdq_cluster_ids', ?)", (CLUSTER_SCHEME,)
            )
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def current_key(self, key: str) -> str:
        """Return what ``key`` is called now (a PDQ key renamed by the migration, or itself)."""
        row = self._db.execute("SELECT new FROM renamed_keys WHERE old = ?", (key,)).fetchone()
        return key if row is None else str(row[0])

    def add(self, dossier: Dossier, *, agency: str, envelope_id: str) -> list[str]:
        """Index a dossier; return the keys it touches (each may now be a link)."""
        restricted = int(dossier.codes.originator_consent_required)
        codes = dossier.codes.model_dump_json()
        keys = dossier_keys(dossier)
        pdq = [
            m.perceptual_hash
            for m in dossier.media
            if m.perceptual_hash
            and (m.perceptual_algorithm or "").upper() == "PDQ"
            and not m.perceptual_low_quality  # too unreliable to match on
        ]
        self._db.execute("BEGIN")
        try:
            clusters, renames = self.pdq.assign(pdq)
            self._rename(renames)
            keys += [(f"pdq:{clusters[h.lower()]}", h) for h in pdq]
            self.pdq.hold(pdq, agency=agency, envelope_id=envelope_id)
            self._db.executemany(
                "INSERT OR IGNORE INTO holdings VALUES (?, ?, ?, ?, ?, ?)",
                [(k, agency, envelope_id, restricted, v, codes) for k, v in keys],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            self.pdq.rollback()
            raise
        self._db.execute("COMMIT")
        self.pdq.commit()
        return sorted({k for k, _ in keys})

    def holdings(self, key: str) -> list[Holding]:
        """Return every holding of ``key``."""
        return [
            Holding(
                key=r[0],
                agency=r[1],
                envelope_id=r[2],
                restricted=bool(r[3]),
                value=r[4],
                codes=json.loads(r[5]),
            )
            for r in self._db.execute(
                "SELECT key, agency, envelope_id, restricted, value, codes FROM holdings "
                "WHERE key = ? "
                "ORDER BY agency, envelope_id",
                (key,),
            )
        ]

    def links(self) -> dict[str, set[str]]:
        """Return every key held by two or more agencies, with its agencies."""
        out: dict[str, set[str]] = {}
        for key, agency in self._db.execute(
            "SELECT key, agency FROM holdings WHERE key IN "
            "(SELECT key FROM holdings GROUP BY key HAVING COUNT(DISTINCT agency) >= 2)"
        ):
            out.setdefault(key, set()).add(agency)
        return out

    def known_hits(self) -> dict[str, set[str]]:
        """Return held media SHA-256 hashes that are known material (the local list or a live,
        unquarantined hash-list entry), with the agencies holding them."""
        out: dict[str, set[str]] = {}
        rows = self._db.execute(
            "SELECT key, agency FROM holdings WHERE key LIKE 'sha256:%'"
        ).fetchall()
        for key, agency in rows:
            if self.known_key(key):
                out.setdefault(key.removeprefix("sha256:"), set()).add(agency)
        return out

    # -- notifications and release requests ---------------------------------------------

    def notified_others(self, key: str, agency: str) -> set[str] | None:
        """Return which other agencies ``agency`` was told about for ``key`` (None: never)."""
        row = self._db.execute(
            "SELECT others FROM notified WHERE key = ? AND agency = ?", (key, agency)
        ).fetchone()
        return None if row is None else {a for a in str(row[0]).split(",") if a}

    def mark_notified(self, key: str, agency: str, others: set[str]) -> None:
        """Record what ``agency`` now knows about ``key``."""
        self._db.execute(
            "INSERT INTO notified VALUES (?, ?, ?) "
            "ON CONFLICT(key, agency) DO UPDATE SET others = ?",
            (key, agency, ",".join(sorted(others)), ",".join(sorted(others))),
        )

    def add_release_request(
        self,
        *,
        request_id: str,
        key: str,
        owner: str,
        owner_envelope_id: str,
        requested_for: set[str],
        anonymous: dict[str, str] | None = None,
    ) -> None:
        """Record a pending release request to ``owner``.

        ``requested_for`` is what the owner is shown: agency ids and the aliases of
        ``anonymous`` (alias -> the restricted agency it stands for, never sent).
        """
        anonymous = anonymous or {}
        self._db.execute("BEGIN")
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO release_requests VALUES (?, ?, ?, ?, ?, 'PENDING', NULL)",
                (request_id, key, owner, owner_envelope_id, ",".join(sorted(requested_for))),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO anonymous_parties VALUES (?, ?, ?)",
                [(request_id, alias, agency) for alias, agency in sorted(anonymous.items())],
            )
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def resolve(self, request_id: str, party: str) -> str:
        """Return the agency behind ``party`` of a request (an alias, or an agency id itself)."""
        row = self._db.execute(
            "SELECT agency FROM anonymous_parties WHERE request_id = ? AND alias = ?",
            (request_id, party),
        ).fetchone()
        return party if row is None else str(row[0])

    def requested_parties(self, key: str, owner: str) -> set[str]:
        """Return every agency ``owner`` was already asked about for ``key``, aliases resolved."""
        out: set[str] = set()
        for request_id, requested in self._db.execute(
            "SELECT request_id, requested_for FROM release_requests WHERE key = ? AND owner = ?",
            (key, owner),
        ):
            out |= {self.resolve(str(request_id), a) for a in str(requested).split(",") if a}
        return out

    def release_request(self, request_id: str) -> dict[str, str] | None:
        """Return a release request by id."""
        row = self._db.execute(
            "SELECT request_id, key, owner, owner_envelope_id, requested_for, status, "
            "COALESCE(released_to, '') FROM release_requests WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            return None
        names = ("request_id", "key", "owner", "owner_envelope_id", "requested_for", "status")
        # released_to: who a GRANTED request was released to ('' for none: the owner denied)
        return dict(zip((*names, "released_to"), (str(v) for v in row), strict=True))

    def grant(self, request_id: str, released_to: set[str]) -> None:
        """Mark a request granted for exactly ``released_to``."""
        self._db.execute(
            "UPDATE release_requests SET status = 'GRANTED', released_to = ? WHERE request_id = ?",
            (",".join(sorted(released_to)), request_id),
        )

    def release_requests(self, *, status: str | None = None) -> list[dict[str, str]]:
        """Return release requests (optionally of one status)."""
        query = "SELECT request_id FROM release_requests"
        args: tuple[str, ...] = ()
        if status:
            query += " WHERE status = ?"
            args = (status,)
        ids = [str(r[0]) for r in self._db.execute(query, args)]
        return [r for r in (self.release_request(i) for i in ids) if r is not None]

    def erase_envelope(self, agency: str, envelope_id: str) -> int:
        """Erase what ``agency``'s recalled ``envelope_id`` left here; return rows erased.

        Its holdings, what the hub told that owner on keys no other holding of it backs, the
        release requests about it, each PDQ hash no other dossier holds (clusters re-keyed).
        """
        self._db.execute("BEGIN")
        try:
            keys = self.keys_of(agency, envelope_id)
            erased = sum(
                self._db.execute(sql, (agency, envelope_id)).rowcount
                for sql in (
                    "DELETE FROM holdings WHERE agency = ? AND envelope_id = ?",
                    "DELETE FROM release_requests WHERE owner = ? AND owner_envelope_id = ?",
                )
            )
            moved = self.pdq.erase(agency=agency, envelope_id=envelope_id)
            rekey(self._db, moved, self._rename)
            self.lists.rematch_clusters(moved)
            for key in map(self.current_key, keys):  # a PDQ key may have been renamed
                if not self._db.execute("SELECT 1 FROM holdings WHERE key = ?", (key,)).fetchone():
                    self.lists.forget(key)  # nobody holds it: its list hits go too
                if not self._db.execute(
                    "SELECT 1 FROM holdings WHERE key = ? AND agency = ?", (key, agency)
                ).fetchone():
                    erased += self._db.execute(
                        "DELETE FROM notified WHERE key = ? AND agency = ?", (key, agency)
                    ).rowcount
        except BaseException:
            self._db.execute("ROLLBACK")
            self.pdq.rollback()
            raise
        self._db.execute("COMMIT")
        self.pdq.commit()
        return erased

    def keys_of(self, agency: str, envelope_id: str) -> list[str]:
        """Return the keys ``agency``'s ``envelope_id`` holds (sorted)."""
        sql = "SELECT DISTINCT key FROM holdings WHERE agency = ? AND envelope_id = ? ORDER BY key"
        return [str(r[0]) for r in self._db.execute(sql, (agency, envelope_id))]

    def restrict_envelope(self, agency: str, envelope_id: str, codes: dict[str, Any]) -> None:
        """Put new codes in force on ``agency``'s holdings of ``envelope_id`` (a restriction)."""
        model = Codes.model_validate(codes)
        self._db.execute(
            "UPDATE holdings SET restricted = ?, codes = ? WHERE agency = ? AND envelope_id = ?",
            (int(model.originator_consent_required), model.model_dump_json(), agency, envelope_id),
        )
