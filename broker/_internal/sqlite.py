"""The one way this package opens its SQLite state files.

WAL with ``synchronous=NORMAL``: durable against process crashes (the threat the
reliability suite exercises), not against power loss; autocommit mode, so every
transaction is explicit; usable from worker threads. Another process that only
reads a state file (a test rig counting deliveries) opens it read-only.

Private: the database is created 0600 in a 0700 directory before SQLite opens it,
and SQLite gives its ``-wal`` and ``-shm`` files the database file's mode; a
looser mode left on any of the three (or the directory) is tightened on open.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from broker.home import private_file

__all__ = ["immediate", "open_read_only", "open_wal", "rows_among"]


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends, rolled back if it raises.

    IMMEDIATE takes the write lock at the start, so two processes sharing a state file
    serialise their read-check-write sequences (e.g. a replay check and its seen-mark).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def open_wal(path: Path, *, schema: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open (creating the directory and tables if needed) the database at ``path``."""
    private_file(path)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            companion.chmod(0o600)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    db.executescript(schema)
    return db


def open_read_only(path: Path, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open the existing database at ``path`` for reading only (no tables created)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    return db


def rows_among(
    db: sqlite3.Connection, *, select: str, where: tuple[str, str], keys: Sequence[tuple[str, str]]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Yield ``(first, row)`` for the rows whose two ``where`` columns are among ``keys``.

    ``select`` is ``"<columns> FROM <table>"`` (code, never input). One query per distinct
    first value and 500 second values (well under SQLite's variable limit), on a primary
    key of both columns: a batch's look-up costs one statement, not one per key.
    """
    grouped: dict[str, list[str]] = {}
    for first, second in keys:
        grouped.setdefault(first, []).append(second)
    for first, seconds in grouped.items():
        for start in range(0, len(seconds), 500):
            part = seconds[start : start + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT {select} WHERE {where[0]} = ? AND {where[1]} IN ({marks})"
            for row in db.execute(query, (first, *part)):
                yield first, tuple(row)
