"""The tables of an agency's state store (:mod:`broker.agency.store`) and their migrations.

``user_version`` records the layout; :func:`migrate` brings a database written by an
older release up to :data:`VERSION`, keeping every row.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA", "VERSION", "migrate"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    envelope_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (sender, envelope_id)
);
CREATE TABLE IF NOT EXISTS sender_sequence (
    sender TEXT PRIMARY KEY,
    highest INTEGER NOT NULL,
    gaps INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS inbox (
    envelope_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at REAL NOT NULL,
    provenance TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (sender, envelope_id)
);
CREATE TABLE IF NOT EXISTS sent (
    envelope_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    recipients TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    sent_at REAL NOT NULL,
    envelope_sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    envelope_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (envelope_id, recipient)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

#: Version 1: ``seen`` and ``inbox`` keyed by (sender, envelope id) instead of the id alone.
VERSION = 1

# Databases written before version 1 keyed both tables by envelope id alone; they are
# rebuilt (rows kept) under the new key. SQLite cannot change a primary key in place.
_MIGRATE_TO_1 = f"""
ALTER TABLE seen RENAME TO seen_v0;
ALTER TABLE inbox RENAME TO inbox_v0;
{SCHEMA}
INSERT INTO seen SELECT envelope_id, sender, sequence, expires_at, seen_at FROM seen_v0;
INSERT INTO inbox SELECT envelope_id, sender, kind, received_at, provenance, payload
    FROM inbox_v0 ORDER BY rowid;
DROP TABLE seen_v0;
DROP TABLE inbox_v0;
"""  # noqa: S608 - constant text, no input


def migrate(db: sqlite3.Connection) -> None:
    """Bring a state database written by an older release to :data:`VERSION`."""
    if int(db.execute("PRAGMA user_version").fetchone()[0]) >= VERSION:
        return
    keyed = [row[1] for row in db.execute("PRAGMA table_info(seen)") if row[5]]
    if keyed == ["envelope_id"]:
        db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_TO_1 + "COMMIT;")
    db.execute(f"PRAGMA user_version = {VERSION}")
