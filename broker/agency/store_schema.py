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
#: Version 2: ``reviews``, each held dossier's retention review date and receipt time,
#: indexed and kept by triggers, so a retention sweep reads only what is due.
VERSION = 2

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

# The owner's review date as sent (``codes.retention_review``, an ISO date: it sorts as
# text); a restriction's or an extension's is looked up beside it (few rows). Every path
# that stores or erases a dossier goes through ``inbox``, so triggers keep this in step.
_MIGRATE_TO_2 = """
CREATE TABLE IF NOT EXISTS reviews (
    sender TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    review TEXT,
    PRIMARY KEY (sender, envelope_id)
);
CREATE INDEX IF NOT EXISTS reviews_by_date ON reviews (review);
CREATE INDEX IF NOT EXISTS reviews_by_receipt ON reviews (received_at);
CREATE TRIGGER IF NOT EXISTS inbox_reviewed AFTER INSERT ON inbox WHEN NEW.kind = 'DOSSIER'
BEGIN
    INSERT OR REPLACE INTO reviews VALUES (NEW.sender, NEW.envelope_id, NEW.received_at,
        json_extract(NEW.provenance, '$.codes.retention_review'));
END;
CREATE TRIGGER IF NOT EXISTS inbox_unreviewed AFTER DELETE ON inbox WHEN OLD.kind = 'DOSSIER'
BEGIN
    DELETE FROM reviews WHERE sender = OLD.sender AND envelope_id = OLD.envelope_id;
END;
INSERT OR IGNORE INTO reviews
    SELECT sender, envelope_id, received_at, json_extract(provenance, '$.codes.retention_review')
    FROM inbox WHERE kind = 'DOSSIER';
"""


def migrate(db: sqlite3.Connection) -> None:
    """Bring a state database written by an older release to :data:`VERSION`."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= VERSION:
        return
    keyed = [row[1] for row in db.execute("PRAGMA table_info(seen)") if row[5]]
    if version < 1 and keyed == ["envelope_id"]:
        db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_TO_1 + "COMMIT;")
    if version < 2:
        db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_TO_2 + "COMMIT;")
    db.execute(f"PRAGMA user_version = {VERSION}")
