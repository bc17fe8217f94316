"""A recall erases the dossier from the hub's file too, not only from its queries (no Kafka).

Attack: someone who later obtains ``hub.db`` (a backup, a seized disk) reads the recalled
dossier's selectors out of SQLite's free space, where a plain ``DELETE`` leaves them. The
hub turns ``secure_delete`` on itself: freed content is overwritten with zeros. Debian's
SQLite happens to be built with it on by default, most builds are not; the test opens the
hub on a connection set to the common default (off) to check the hub does not rely on it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from broker._internal.sqlite import open_wal
from broker.hub import HubIndex
from tests.hub.live import dossier

RECALLED = "+447700911111"


def _file_bytes(path: Path) -> bytes:
    files = (path, path.with_name(path.name + "-wal"))
    return b"".join(p.read_bytes() for p in files if p.exists())


def test_attack_a_recalled_selector_is_not_left_in_the_hub_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sqlite_default_off(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = open_wal(*args, **kwargs)
        db.execute("PRAGMA secure_delete = OFF")
        return db

    monkeypatch.setattr("broker.hub.index.open_wal", sqlite_default_off)
    path = tmp_path / "hub.db"
    index = HubIndex.open(path)
    index.add(dossier(1, restricted=False, phone=RECALLED), agency="ES-PN", envelope_id="e1")
    for i in range(300):  # other agencies' dossiers around it
        phone = f"+4477009{i:05d}"
        index.add(
            dossier(10 + i, restricted=False, phone=phone), agency="DE-BKA", envelope_id=f"e{i}"
        )
    index.close()
    assert RECALLED.encode() in _file_bytes(path)  # stored as plain text
    index = HubIndex.open(path)
    assert index.erase_envelope("ES-PN", "e1") > 0
    index.close()
    after = _file_bytes(path)
    assert b"+447700900299" in after  # the others are still there
    assert RECALLED.encode() not in after
