"""Encryption at rest: the store file never holds a payload in clear, and once a dossier's
key is destroyed (recall, retention) even a backup of the store file no longer yields it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.agency.atrest import MAGIC, vault_beside
from broker.agency.store import AgencyStore
from broker.errors import ShreddedError
from broker.synthetic import example_dossier


def _files(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_backup_of_the_store_file_no_longer_yields_a_shredded_dossier(tmp_path: Path) -> None:
    dossier = example_dossier(21)
    payload = dossier.to_bytes()
    path = tmp_path / "live" / "state.db"
    store = AgencyStore.open(path)
    store.accept(
        envelope_id="e" * 32,
        sender="ES-PN",
        sequence=1,
        expires_at=4e9,
        kind="DOSSIER",
        provenance={},
        payload=payload,
    )
    assert [i.payload for i in store.inbox()] == [payload]
    # Nothing of the dossier is in the store file (nor its WAL) in clear.
    assert dossier.case_ref.encode() not in _files(path) and MAGIC in _files(path)
    backup = tmp_path / "backup" / "state.db"
    backup.parent.mkdir()
    for part in path.parent.glob("state.db*"):
        shutil.copy(part, backup.parent / part.name)

    assert store.vault is not None and store.vault.destroy("ES-PN", "e" * 32) == 1
    store.close()
    # The attacker has the backup of the store file and the live key file (key gone).
    shutil.copy(vault_beside(path), vault_beside(backup))
    restored = AgencyStore.open(backup)
    with pytest.raises(ShreddedError) as caught:
        restored.inbox()
    restored.close()
    assert caught.value.reason == "shredded"
    assert b"e" * 32 not in vault_beside(path).read_bytes()  # secure_delete: no key remnant


def test_a_read_only_reader_sees_the_payload_in_clear_through_the_key_file(tmp_path: Path) -> None:
    """The console and the chaos counters open the store read-only: they decrypt too."""
    payload = example_dossier(22).to_bytes()
    path = tmp_path / "state.db"
    store = AgencyStore.open(path)
    store.accept(
        envelope_id="f" * 32,
        sender="ES-PN",
        sequence=1,
        expires_at=4e9,
        kind="DOSSIER",
        provenance={},
        payload=payload,
    )
    reader = AgencyStore.open_read_only(path)
    try:
        assert [i.payload for i in reader.inbox()] == [payload]
    finally:
        reader.close()
        store.close()
