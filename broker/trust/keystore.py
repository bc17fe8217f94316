"""Key files at rest, and loading the federation's public trust and an agency's identity.

Key files are JSON; with a passphrase the seeds are sealed with AES-256-GCM under
a key from scrypt (n=2^15, r=8, p=1), the agency and key id bound as associated
data. Decryption keys are never deleted by rotation: they are needed to open
old envelopes for the retention period (deleting them is crypto-shredding).
Where each file lives is :mod:`broker.home`'s business; administration (issuing,
rotating, revoking) is :mod:`broker.federation`'s.

Example::

    >>> import tempfile
    >>> from broker.config import Settings
    >>> from broker.federation import init_federation
    >>> s = Settings(home=tempfile.mkdtemp())
    >>> init_federation(s, agencies=["ES-PN", "DE-BKA"])
    ['DE-BKA', 'ES-PN']
    >>> load_trust(s).agency_ids()
    ['DE-BKA', 'ES-PN']
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from broker import home
from broker.config import Settings
from broker.errors import ConfigError, UnknownAgencyError, UnknownKeyError
from broker.trust.certificates import FederationRoot
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.manifest import load_registry
from broker.trust.registry import TrustStore

__all__ = ["b64", "load_identity", "load_key", "load_root", "load_trust", "save_key"]

_FORMAT = "fed-key-v1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _kdf(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


def save_key(
    path: Path,
    *,
    agency: str,
    key_id: str,
    usage: str,
    seeds: dict[str, bytes],
    passphrase: str | None,
) -> None:
    doc: dict[str, Any] = {"format": _FORMAT, "agency": agency, "key_id": key_id, "usage": usage}
    plain = json.dumps({k: b64(v) for k, v in seeds.items()}).encode()
    if passphrase:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        aad = f"{agency}\n{key_id}\n{usage}".encode()
        ct = AESGCM(_kdf(passphrase, salt)).encrypt(nonce, plain, aad)
        doc["sealed"] = {
            "kdf": "scrypt-2^15-8-1",
            "salt": b64(salt),
            "nonce": b64(nonce),
            "ct": b64(ct),
        }
    else:
        doc["seeds"] = json.loads(plain)
    _write_private(path, json.dumps(doc, indent=2).encode())


def load_key(path: Path, passphrase: str | None) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != _FORMAT:
            raise ConfigError("unknown key file format", detail=str(path))
        if "sealed" in doc:
            if not passphrase:
                raise ConfigError("this key file is passphrase-protected", detail=str(path))
            sealed = doc["sealed"]
            aad = f"{doc['agency']}\n{doc['key_id']}\n{doc['usage']}".encode()
            key = _kdf(passphrase, _unb64(sealed["salt"]))
            raw = json.loads(
                AESGCM(key).decrypt(_unb64(sealed["nonce"]), _unb64(sealed["ct"]), aad)
            )
        else:
            raw = doc["seeds"]
        return doc, {k: _unb64(v) for k, v in raw.items()}
    except InvalidTag:
        raise ConfigError("wrong passphrase for key file", detail=str(path)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("unreadable key file", detail=str(path)) from exc


def load_root(settings: Settings, passphrase: str | None) -> FederationRoot:
    path = home.root_key(settings)
    if not path.exists():
        raise ConfigError(
            "no federation root key here", detail=f"{path} missing: run `broker federation init`"
        )
    _, seeds = load_key(path, passphrase)
    return FederationRoot.from_seeds(seeds)


def load_trust(settings: Settings) -> TrustStore:
    """Load and verify the federation's public material (fail closed on any bad statement).

    Only the files the root-signed registry manifest lists are trusted, and only if
    every listed file is there unaltered (:mod:`broker.trust.manifest`).
    """
    return load_registry(settings).trust_store()


def load_identity(
    settings: Settings,
    *,
    agency: str,
    passphrase: str | None = None,
    trust: TrustStore | None = None,
) -> AgencyIdentity:
    """Load an agency's private keys: its current signing key and every decryption key."""
    trust = trust or load_trust(settings)
    trust.require_agency(agency)
    key_dir = home.agency_keys_dir(settings, agency)
    if not key_dir.is_dir():
        raise UnknownAgencyError("no private keys for this agency here", detail=str(key_dir))
    signing: dict[str, SigningKeyPair] = {}
    decryption: dict[str, DecryptionKeyPair] = {}
    for path in sorted(key_dir.glob("*.key")):
        doc, seeds = load_key(path, passphrase)
        if doc["usage"] == "SIGN":
            signing[doc["key_id"]] = SigningKeyPair.from_seeds(
                agency=agency, key_id=doc["key_id"], seeds=seeds
            )
        elif doc["usage"] == "ENCRYPT":
            decryption[doc["key_id"]] = DecryptionKeyPair.from_seeds(
                agency=agency, key_id=doc["key_id"], seeds=seeds
            )
    current = trust.current_signing_key_id(agency, at=dt.datetime.now(dt.UTC))
    if current not in signing:
        raise UnknownKeyError("current signing key not held here", detail=f"{agency}/{current}")
    return AgencyIdentity(agency=agency, signing=signing[current], decryption=decryption)
