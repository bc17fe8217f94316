"""Encryption at rest and crypto-shredding of an agency's stored payloads.

Every payload the agency store keeps (dossiers, notifications, requests) is encrypted
under a key of its own, kept in a separate key file (``atrest-keys.db`` beside
``state.db``, mode 0600). Erasing a dossier — a recall, a retention expiry — deletes
its key with SQLite ``secure_delete`` on (the freed page is overwritten with zeros) and a
rollback journal (no WAL copy of the page lingers): every copy of the store file,
backups included, no longer yields that dossier.

Stored form (``sealed``)::

    "FEDAR1" || nonce (12 bytes) || AES-256-GCM(key, nonce, payload, aad)
    aad = frame("fed-atrest-v1", sender, envelope_id)

``frame`` is the length-prefixed framing of docs/envelope-format.md; the AAD binds a row
to its (sender, envelope id), so rows cannot be swapped. Rows written before this
module (no magic; an Avro single-object payload starts with ``C3 01``) read as they are.

Example::

    >>> import tempfile, pathlib
    >>> vault = AtRestVault.open(pathlib.Path(tempfile.mkdtemp()) / "atrest-keys.db")
    >>> (sealed,) = vault.seal_many([("ES-PN", "e1", b"dossier")])
    >>> vault.unseal("ES-PN", "e1", sealed), vault.destroy("ES-PN", "e1")
    (b'dossier', 1)
    >>> vault.unseal("ES-PN", "e1", sealed)
    Traceback (most recent call last):
    ...
    broker.errors.ShreddedError: stored payload's key was destroyed (erased)
    >>> vault.close()
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker._internal.framing import frame
from broker._internal.sqlite import immediate, rows_among
from broker.agency.acceptance import Acceptance, PendingDelivery
from broker.errors import ConfigError, DecryptionError, ShreddedError
from broker.home import private_file

__all__ = ["MAGIC", "AtRestVault", "vault_beside"]

MAGIC = b"FEDAR1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS atrest_keys (
    sender TEXT NOT NULL, envelope_id TEXT NOT NULL, key BLOB NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (sender, envelope_id)
);
"""


def _aad(sender: str, envelope_id: str) -> bytes:
    return frame("fed-atrest-v1", sender.encode(), envelope_id.encode())


def vault_beside(store_path: Path) -> Path:
    """Return the key file of the agency store at ``store_path``."""
    return store_path.with_name("atrest-keys.db")


class AtRestVault:
    """Per-payload keys (see the module docstring)."""

    def __init__(self, *, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> AtRestVault:
        """Open (creating if needed, mode 0600) the key file at ``path``."""
        try:
            db = sqlite3.connect(private_file(path), isolation_level=None, timeout=10.0)
            # Overwrite freed pages; a rollback journal, so no WAL keeps an old page.
            db.execute("PRAGMA secure_delete = ON")
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("PRAGMA synchronous = FULL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError("cannot open the at-rest key store", detail=str(path)) from exc
        return cls(db=db)

    @classmethod
    def open_read_only(cls, path: Path) -> AtRestVault | None:
        """Open the key file at ``path`` for reading only (None if there is none yet)."""
        if not path.exists():
            return None
        try:
            db = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10.0
            )
        except sqlite3.Error as exc:
            raise ConfigError("cannot open the at-rest key store", detail=str(path)) from exc
        return cls(db=db)

    def close(self) -> None:
        """Close the key file."""
        self._db.close()

    def seal_many(self, items: Sequence[tuple[str, str, bytes]]) -> list[bytes]:
        """Encrypt each (sender, envelope id, payload) under its own key, stored in ONE commit.

        A payload whose key exists already (the same delivery again) reuses it.
        """
        now = time.time()
        with immediate(self._db) as db:
            db.executemany(
                "INSERT OR IGNORE INTO atrest_keys VALUES (?, ?, ?, ?)",
                [(s, e, AESGCM.generate_key(bit_length=256), now) for s, e, _ in items],
            )
            among = rows_among(  # ONE query per sender, not one per payload
                db,
                select="envelope_id, key FROM atrest_keys",
                where=("sender", "envelope_id"),
                keys=[(s, e) for s, e, _ in items],
            )
            stored = {(s, str(row[0])): bytes(row[1]) for s, row in among}
        keys = [stored[s, e] for s, e, _ in items]
        out = []
        for (sender, envelope_id, payload), key in zip(items, keys, strict=True):
            nonce = os.urandom(12)
            sealed = AESGCM(key).encrypt(nonce, payload, _aad(sender, envelope_id))
            out.append(MAGIC + nonce + sealed)
        return out

    def seal_acceptances(self, items: Sequence[Acceptance]) -> list[Acceptance]:
        """Return ``items`` with every payload sealed (one commit for all their keys)."""
        todo = [i for i in items if i.payload is not None]
        if not todo:
            return list(items)
        sealed = iter(self.seal_many([(i.sender, i.envelope_id, i.payload or b"") for i in todo]))
        return [
            dataclasses.replace(i, payload=next(sealed)) if i.payload is not None else i
            for i in items
        ]

    def unseal_pending(self, rows: Sequence[PendingDelivery]) -> list[PendingDelivery]:
        """Return pending deliveries with their payloads decrypted."""
        return [
            dataclasses.replace(r, payload=self.unseal(r.sender, r.envelope_id, r.payload))
            for r in rows
        ]

    def unseal(self, sender: str, envelope_id: str, stored: bytes) -> bytes:
        """Decrypt a stored payload; :class:`ShreddedError` if its key was destroyed."""
        if not stored.startswith(MAGIC):
            return stored  # written before encryption at rest
        row = self._db.execute(
            "SELECT key FROM atrest_keys WHERE sender = ? AND envelope_id = ?",
            (sender, envelope_id),
        ).fetchone()
        if row is None:
            raise ShreddedError(
                "stored payload's key was destroyed (erased)", detail=f"{sender}/{envelope_id}"
            )
        body = stored[len(MAGIC) :]
        try:
            return AESGCM(bytes(row[0])).decrypt(body[:12], body[12:], _aad(sender, envelope_id))
        except InvalidTag as exc:
            raise DecryptionError("stored payload does not decrypt") from exc

    def destroy(self, sender: str, envelope_id: str) -> int:
        """Destroy the key of (sender, envelope id); return 1 if there was one, else 0."""
        with immediate(self._db) as db:
            cur = db.execute(
                "DELETE FROM atrest_keys WHERE sender = ? AND envelope_id = ?",
                (sender, envelope_id),
            )
        return cur.rowcount
