"""The federation on disk: public material in ``agencies/``, private keys in ``keys/``.

Layout under the home directory::

    agencies/federation-root.json           root public keys (the trust anchor)
    agencies/<AGENCY>/profile.json          id and when it joined
    agencies/<AGENCY>/certificates/<key id>.cert   signed certificates
    agencies/<AGENCY>/revocations/<key id>.rev     signed revocations
    keys/federation-root/root.key           root private seeds        (0600)
    keys/<AGENCY>/<key id>.key              agency private seeds      (0600)

Key files are JSON; with a passphrase the seeds are sealed with AES-256-GCM under
a key from scrypt (n=2^15, r=8, p=1), the agency and key id bound as associated
data. Decryption keys are never deleted by rotation: they are needed to open
old envelopes for the retention period (deleting them is crypto-shredding).

Example::

    >>> import tempfile
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.checkpoint import NoteSigner, NoteVerifier, verifier_from_key_string
from broker.audit.events import AuditEvent, AuditKind, origin_for
from broker.audit.journal import AuditJournal
from broker.config import Settings
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
import shutil
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from broker.audit.checkpoint import NoteSigner, NoteVerifier, verifier_from_key_string
from broker.audit.events import AuditEvent, AuditKind, origin_for
from broker.audit.journal import AuditJournal
from broker.config import Settings
from broker.errors import CertificateError, ConfigError, UnknownAgencyError, UnknownKeyError
from broker.topics import check_agency_id
from broker.trust.certificates import FederationRoot, RootPublicKeys, verify_audit_key
from broker.trust.keys import ED25519, AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

__all__ = [
    "FEDERATION_STREAM",
    "ROUTER_STREAM",
    "add_agency",
    "init_federation",
    "issue_audit_key",
    "load_audit_keys",
    "load_audit_signer",
    "load_identity",
    "load_trust",
    "remove_agency",
    "revoke_key",
    "rotate_keys",
]

_FORMAT = "fed-key-v1"
_ROOT_DIR = "federation-root"
DEFAULT_VALIDITY_DAYS = 730
#: Audit streams that are not agencies: the router's and the federation administrator's.
ROUTER_STREAM = "router"
FEDERATION_STREAM = "federation"


def _b64(data: bytes) -> str:
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


def _save_key(
    path: Path,
    *,
    agency: str,
    key_id: str,
    usage: str,
    seeds: dict[str, bytes],
    passphrase: str | None,
) -> None:
    doc: dict[str, Any] = {"format": _FORMAT, "agency": agency, "key_id": key_id, "usage": usage}
    plain = json.dumps({k: _b64(v) for k, v in seeds.items()}).encode()
    if passphrase:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        aad = f"{agency}\n{key_id}\n{usage}".encode()
        ct = AESGCM(_kdf(passphrase, salt)).encrypt(nonce, plain, aad)
        doc["sealed"] = {
            "kdf": "scrypt-2^15-8-1",
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "ct": _b64(ct),
        }
    else:
        doc["seeds"] = json.loads(plain)
    _write_private(path, json.dumps(doc, indent=2).encode())


def _load_key(path: Path, passphrase: str | None) -> tuple[dict[str, Any], dict[str, bytes]]:
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


def _root_public_path(settings: Settings) -> Path:
    return settings.agencies_dir / "federation-root.json"


def _load_root(settings: Settings, passphrase: str | None) -> FederationRoot:
    path = settings.keys_dir / _ROOT_DIR / "root.key"
    if not path.exists():
        raise ConfigError(
            "no federation root key here", detail=f"{path} missing: run `broker federation init`"
        )
    _, seeds = _load_key(path, passphrase)
    return FederationRoot.from_seeds(seeds)


def _issue(
    settings: Settings,
    root: FederationRoot,
    agency: str,
    *,
    usage: str,
    days: int,
    passphrase: str | None,
    not_before: dt.datetime,
) -> str:
    prefix = "sig" if usage == "SIGN" else "enc"
    key_id = f"{prefix}-{not_before:%Y%m%d}-{secrets.token_hex(3)}"
    if usage == "SIGN":
        pair = SigningKeyPair.generate(agency=agency, key_id=key_id)
        cert = root.certify_signing(pair.public(), not_before=not_before, days=days)
        seeds = pair.seeds()
    else:
        dpair = DecryptionKeyPair.generate(agency=agency, key_id=key_id)
        cert = root.certify_encryption(dpair.public(), not_before=not_before, days=days)
        seeds = dpair.seeds()
    _save_key(
        settings.keys_dir / agency / f"{key_id}.key",
        agency=agency,
        key_id=key_id,
        usage=usage,
        seeds=seeds,
        passphrase=passphrase,
    )
    cert_dir = settings.agencies_dir / agency / "certificates"
    cert_dir.mkdir(parents=True, exist_ok=True)
    (cert_dir / f"{key_id}.cert").write_bytes(cert)
    return key_id


def init_federation(
    settings: Settings,
    *,
    agencies: list[str],
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    passphrase: str | None = None,
    force: bool = False,
) -> list[str]:
    """Create the federation root and the given agencies; return the agency ids."""
    ids = sorted({check_agency_id(a) for a in agencies})
    if not ids:
        raise ConfigError("a federation needs at least one agency")
    if _root_public_path(settings).exists() and not force:
        raise ConfigError(
            "a federation already exists here",
            detail=f"{_root_public_path(settings)} exists (use --force to replace it)",
        )
    if force:
        shutil.rmtree(settings.agencies_dir, ignore_errors=True)
        shutil.rmtree(settings.keys_dir / _ROOT_DIR, ignore_errors=True)
        for agency in ids:
            shutil.rmtree(settings.keys_dir / agency, ignore_errors=True)
    root = FederationRoot.generate()
    _save_key(
        settings.keys_dir / _ROOT_DIR / "root.key",
        agency="federation-root",
        key_id="root",
        usage="ROOT",
        seeds=root.seeds(),
        passphrase=passphrase,
    )
    settings.agencies_dir.mkdir(parents=True, exist_ok=True)
    raw = {k: _b64(v) for k, v in root.public().raw().items()}
    _root_public_path(settings).write_text(json.dumps(raw, indent=2) + "\n")
    for stream in (FEDERATION_STREAM, ROUTER_STREAM):
        _remove_audit_key(settings, stream)
        issue_audit_key(settings, stream=stream, passphrase=passphrase, root=root)
    for agency in ids:
        add_agency(settings, agency=agency, validity_days=validity_days, passphrase=passphrase)
    return ids


def add_agency(
    settings: Settings,
    *,
    agency: str,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    passphrase: str | None = None,
) -> None:
    """Add a member agency with fresh signing and encryption keys."""
    check_agency_id(agency)
    root = _load_root(settings, passphrase)
    profile = settings.agencies_dir / agency / "profile.json"
    if profile.exists():
        raise ConfigError("agency already exists", detail=agency)
    profile.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    profile.write_text(json.dumps({"agency": agency, "added_at": now.isoformat()}) + "\n")
    _remove_audit_key(settings, agency)
    issue_audit_key(settings, stream=agency, passphrase=passphrase, root=root)
    _record(settings, AuditKind.AGENCY_ADD, parties=[agency])
    for usage in ("SIGN", "ENCRYPT"):
        key_id = _issue(
            settings,
            root,
            agency,
            usage=usage,
            days=validity_days,
            passphrase=passphrase,
            not_before=now,
        )
        _record(settings, AuditKind.KEY_CREATE, parties=[agency], ref=key_id, outcome=usage)


def rotate_keys(
    settings: Settings,
    *,
    agency: str,
    usages: tuple[str, ...] = ("SIGN", "ENCRYPT"),
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    passphrase: str | None = None,
) -> list[str]:
    """Issue new keys; retire the previous ones as SUPERSEDED from now. Return new key ids.

    Envelopes created before the rotation still verify with the old signing key;
    old decryption keys stay in ``keys/`` to open old envelopes.
    """
    trust = load_trust(settings)
    profile = trust.require_agency(agency)
    root = _load_root(settings, passphrase)
    now = dt.datetime.now(dt.UTC)
    new_ids = []
    for usage in usages:
        for cert in profile.certificates:
            if cert.usage == usage and trust.revocation(agency, cert.key_id) is None:
                _write_revocation(
                    settings,
                    root.revoke(
                        agency=agency,
                        key_id=cert.key_id,
                        kind="SUPERSEDED",
                        revoked_at=now,
                        reason="rotated",
                    ),
                    agency,
                    cert.key_id,
                )
        key_id = _issue(
            settings,
            root,
            agency,
            usage=usage,
            days=validity_days,
            passphrase=passphrase,
            not_before=now,
        )
        _record(settings, AuditKind.KEY_ROTATE, parties=[agency], ref=key_id, outcome=usage)
        new_ids.append(key_id)
    return new_ids


def _write_revocation(settings: Settings, data: bytes, agency: str, key_id: str) -> None:
    rev_dir = settings.agencies_dir / agency / "revocations"
    rev_dir.mkdir(parents=True, exist_ok=True)
    path = rev_dir / f"{key_id}.rev"
    if path.exists():
        # Keep every revocation: a compromise may follow a rotation's retirement.
        path = rev_dir / f"{key_id}.{secrets.token_hex(3)}.rev"
    path.write_bytes(data)


def revoke_key(
    settings: Settings,
    *,
    agency: str,
    key_id: str,
    reason: str,
    kind: str = "COMPROMISED",
    passphrase: str | None = None,
) -> None:
    """Revoke one key (signed by the root); it is refused for any time afterwards."""
    trust = load_trust(settings)
    trust.require_agency(agency)
    if not any(c.key_id == key_id for c in trust.require_agency(agency).certificates):
        raise UnknownKeyError("unknown key", detail=f"{agency} has no key {key_id!r}")
    root = _load_root(settings, passphrase)
    data = root.revoke(
        agency=agency, key_id=key_id, kind=kind, revoked_at=dt.datetime.now(dt.UTC), reason=reason
    )
    _write_revocation(settings, data, agency, key_id)
    _record(
        settings, AuditKind.KEY_REVOKE, parties=[agency], ref=key_id, outcome=kind, reason=reason
    )


def remove_agency(settings: Settings, *, agency: str, passphrase: str | None = None) -> list[str]:
    """Withdraw every key of an agency; return the key ids withdrawn."""
    profile = load_trust(settings).require_agency(agency)
    ids = [c.key_id for c in profile.certificates]
    for key_id in ids:
        revoke_key(
            settings,
            agency=agency,
            key_id=key_id,
            reason="agency removed",
            kind="WITHDRAWN",
            passphrase=passphrase,
        )
    _record(settings, AuditKind.AGENCY_REMOVE, parties=[agency])
    return ids


def load_trust(settings: Settings) -> TrustStore:
    """Load and verify the federation's public material (fail closed on any bad statement)."""
    path = _root_public_path(settings)
    try:
        raw = json.loads(path.read_text())
        root = RootPublicKeys.from_raw({k: _unb64(v) for k, v in raw.items()})
    except FileNotFoundError:
        raise ConfigError(
            "no federation here", detail=f"{path} missing: run `broker federation init`"
        ) from None
    except (OSError, ValueError) as exc:
        raise CertificateError("unreadable federation root", detail=str(path)) from exc
    agencies = sorted(p.parent.name for p in settings.agencies_dir.glob("*/profile.json"))
    certs = [
        p.read_bytes()
        for a in agencies
        for p in sorted((settings.agencies_dir / a / "certificates").glob("*.cert"))
    ]
    revs = [
        p.read_bytes()
        for a in agencies
        for p in sorted((settings.agencies_dir / a / "revocations").glob("*.rev"))
    ]
    return TrustStore.from_signed(
        root=root, certificates=certs, revocations=revs, agencies=agencies
    )


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
    key_dir = settings.keys_dir / agency
    if not key_dir.is_dir():
        raise UnknownAgencyError("no private keys for this agency here", detail=str(key_dir))
    signing: dict[str, SigningKeyPair] = {}
    decryption: dict[str, DecryptionKeyPair] = {}
    for path in sorted(key_dir.glob("*.key")):
        doc, seeds = _load_key(path, passphrase)
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


# -- audit keys and the federation's own audit stream -------------------------------------


def _record(settings: Settings, kind: AuditKind, **fields: object) -> None:
    """Journal a federation administration event (published by the next audit flush)."""
    from broker.audit.log import journal_path

    journal = AuditJournal.open(journal_path(settings, FEDERATION_STREAM), stream=FEDERATION_STREAM)
    try:
        journal.append(AuditEvent.new(kind, actor=FEDERATION_STREAM, **fields))
    finally:
        journal.close()


def _audit_key_paths(settings: Settings, stream: str) -> tuple[Path, Path]:
    return (
        settings.keys_dir / "audit" / f"{stream}.key",
        settings.agencies_dir / "audit-keys" / f"{stream}.cert",
    )


def _remove_audit_key(settings: Settings, stream: str) -> None:
    for path in _audit_key_paths(settings, stream):
        path.unlink(missing_ok=True)


def issue_audit_key(
    settings: Settings,
    *,
    stream: str,
    passphrase: str | None = None,
    root: FederationRoot | None = None,
) -> str:
    """Create ``stream``'s checkpoint-signing key and its root certificate; return its vkey."""
    root = root or _load_root(settings, passphrase)
    private = Ed25519PrivateKey.generate()
    signer = NoteSigner.from_private_key(name=origin_for(stream), private_key=private)
    key_path, cert_path = _audit_key_paths(settings, stream)
    if key_path.exists():
        raise ConfigError("audit key already exists", detail=str(key_path))
    _save_key(
        key_path,
        agency=stream,
        key_id=signer.key_id.hex(),
        usage="AUDIT",
        seeds={ED25519: private.private_bytes_raw()},
        passphrase=passphrase,
    )
    vkey = signer.verifier_key_string()
    cert = root.certify_audit_key(stream=stream, vkey=vkey, not_before=dt.datetime.now(dt.UTC))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert)
    return vkey


def load_audit_signer(
    settings: Settings, *, stream: str, passphrase: str | None = None
) -> NoteSigner | None:
    """Return ``stream``'s checkpoint signer, or None if this home does not hold it."""
    key_path, _ = _audit_key_paths(settings, stream)
    if not key_path.exists():
        return None
    doc, seeds = _load_key(key_path, passphrase)
    if doc.get("usage") != "AUDIT" or doc.get("agency") != stream:
        raise ConfigError("not an audit key for this stream", detail=str(key_path))
    private = Ed25519PrivateKey.from_private_bytes(seeds[ED25519])
    return NoteSigner.from_private_key(name=origin_for(stream), private_key=private)


def load_audit_keys(settings: Settings) -> dict[str, NoteVerifier]:
    """Return every root-certified audit stream key, by stream (fail closed on a bad one)."""
    trust = load_trust(settings)
    out: dict[str, NoteVerifier] = {}
    for path in sorted((settings.agencies_dir / "audit-keys").glob("*.cert")):
        statement = verify_audit_key(path.read_bytes(), root=trust.root)
        verifier = verifier_from_key_string(statement.vkey)
        if not isinstance(verifier, NoteVerifier) or verifier.name != origin_for(statement.stream):
            raise CertificateError("audit key statement names a wrong key", detail=str(path))
        out[statement.stream] = verifier
    return out
