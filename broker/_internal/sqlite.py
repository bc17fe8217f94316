"""The one way this package opens its SQLite state files.

WAL with ``synchronous=NORMAL``: durable against process crashes (the threat the
reliability suite exercises), not against power loss; autocommit mode, so every
transaction is explicit; usable from worker threads.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_wal"]


def open_wal(path: Path, *, schema: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open (creating the directory and tables if needed) the database at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    db.executescript(schema)
    return db
