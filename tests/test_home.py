"""State files are private: 0600 files in 0700 directories, tightened when found looser (F12)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from broker._internal.sqlite import open_wal
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
