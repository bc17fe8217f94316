"""State files are private: 0600 files in 0700 directories, tightened when found looser (F12)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from broker._internal.sqlite import open_wal
from broker.agency.store import AgencyStore
from broker.hub import HubIndex
from broker.synthetic import example_dossier


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_user_cannot_read_a_new_hub_index_or_its_wal(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: without care, 0644 files in 0755 directories
    try:
        index = HubIndex.open(tmp_path / "state" / "EUROPOL" / "hub.db")
        index.add(example_dossier(1), agency="ES-PN", envelope_id="e1")
        files = sorted((tmp_path / "state" / "EUROPOL").iterdir())
        assert {p.name for p in files} >= {"hub.db", "hub.db-wal", "hub.db-shm"}
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        assert _mode(tmp_path / "state") == _mode(tmp_path / "state" / "EUROPOL") == 0o700
        index.close()
    finally:
        os.umask(old)


def test_local_user_cannot_read_state_files_left_world_readable_after_reopen(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state" / "ES-PN"
    directory.mkdir(parents=True)
    path = directory / "state.db"
    before = sqlite3.connect(path, isolation_level=None)  # an older release's database
    before.execute("PRAGMA journal_mode=WAL")
    before.execute("CREATE TABLE inbox (payload BLOB)")
    before.execute("INSERT INTO inbox VALUES (x'00')")
    loose = [path, path.with_name("state.db-wal"), path.with_name("state.db-shm")]
    for p in loose:
        p.chmod(0o644)
    directory.chmod(0o755)

    db = open_wal(
        path, schema="CREATE TABLE IF NOT EXISTS inbox (payload BLOB);", busy_timeout_ms=1000
    )
    assert [_mode(p) for p in loose] == [0o600, 0o600, 0o600]
    assert _mode(directory) == 0o700
    assert db.execute("SELECT COUNT(*) FROM inbox").fetchone() == (1,)
    db.close()
    before.close()


_COUNT_ROWS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
print(db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])
db.close()
"""


def _rows_seen_by_another_process(path: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_ROWS, str(path)], check=True, capture_output=True, text=True
    )
    return int(out.stdout)


def test_reopening_a_store_in_the_same_process_does_not_lose_another_connections_commits(
    tmp_path: Path,
) -> None:
    """The console's pages open the store beside its own inbox consumer (issue 20).

    Opening a descriptor of the database file and closing it used to drop every POSIX
    lock this process held on it, so another process closing its connection believed it
    was the last one, checkpointed and deleted the WAL, and the consumer went on
    committing into the unlinked WAL: its deliveries vanished for everyone else.
    """
    path = tmp_path / "state" / "ES-PN" / "state.db"
    schema = "CREATE TABLE IF NOT EXISTS inbox (payload BLOB);"
    consumer = open_wal(path, schema=schema, busy_timeout_ms=1000)
    consumer.execute("INSERT INTO inbox VALUES (x'01')")

    page = open_wal(path, schema=schema, busy_timeout_ms=1000)  # a page request
    page.close()
    assert _rows_seen_by_another_process(path) == 1  # e.g. a CLI command of the agency

    consumer.execute("INSERT INTO inbox VALUES (x'02')")  # the next delivery
    assert path.with_name("state.db-wal").exists()
    assert _rows_seen_by_another_process(path) == 2
    consumer.close()


def test_a_state_file_in_a_shared_directory_leaves_the_directory_as_it_was(tmp_path: Path) -> None:
    """A store opened directly in a shared directory (``/tmp``) made it 0700, locking every
    other user and service out of it (``apt`` could no longer write its temporary files)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    store = AgencyStore.open(shared / "state.db")
    store.close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "state.db").stat().st_mode) == 0o600  # the file is still private
    own = tmp_path / "own"
    own.mkdir(mode=0o755)
    own.chmod(0o755)
    AgencyStore.open(own / "state.db").close()
    assert stat.S_IMODE(own.stat().st_mode) == 0o700  # a directory of our own is tightened
