"""Audit stream keys: each stream's checkpoint-signing key, certified by the federation root.

Every audit stream (an agency, ``router``, ``federation``) signs its checkpoints
with its own Ed25519 note key; the root certifies the key string so an auditor
holding only the public registry can check every checkpoint
(:func:`load_audit_keys`).

Example::

    >>> import tempfile
    >>> from broker.config import Settings
    >>> from broker.federation import init_federation
    >>> s = Settings(home=tempfile.mkdtemp())
    >>> _ = init_federation(s, agencies=["ES-PN"])
    >>> sorted(load_audit_keys(s))
    ['ES-PN', 'federation', 'router']
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import home
from broker.audit.events import origin_for
from broker.audit.signers import NoteSigner, NoteVerifier, verifier_from_key_string
from broker.config import Settings
from broker.errors import CertificateError, ConfigError
from broker.trust.certificates import FederationRoot, verify_audit_key
from broker.trust.keys import ED25519
from broker.trust.keystore import load_key, load_root, save_key
from broker.trust.manifest import load_registry

__all__ = [
    "issue_audit_key",
    "load_audit_key_times",
    "load_audit_keys",
    "load_audit_signer",
    "remove_audit_key",
]


def remove_audit_key(settings: Settings, stream: str) -> None:
    for path in (home.audit_key(settings, stream), home.audit_key_cert(settings, stream)):
        path.unlink(missing_ok=True)


def issue_audit_key(
    settings: Settings,
    *,
    stream: str,
    passphrase: str | None = None,
    root: FederationRoot | None = None,
) -> str:
    """Create ``stream``'s checkpoint-signing key and its root certificate; return its vkey."""
    root = root or load_root(settings, passphrase)
    private = Ed25519PrivateKey.generate()
    signer = NoteSigner.from_private_key(name=origin_for(stream), private_key=private)
    key_path, cert_path = home.audit_key(settings, stream), home.audit_key_cert(settings, stream)
    if key_path.exists():
        raise ConfigError("audit key already exists", detail=str(key_path))
    save_key(
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
    key_path = home.audit_key(settings, stream)
    if not key_path.exists():
        return None
    doc, seeds = load_key(key_path, passphrase)
    if doc.get("usage") != "AUDIT" or doc.get("agency") != stream:
        raise ConfigError("not an audit key for this stream", detail=str(key_path))
    private = Ed25519PrivateKey.from_private_bytes(seeds[ED25519])
    return NoteSigner.from_private_key(name=origin_for(stream), private_key=private)


def load_audit_keys(settings: Settings) -> dict[str, NoteVerifier]:
    """Return every root-certified audit stream key, by stream (fail closed on a bad one)."""
    registry = load_registry(settings)  # only root-listed, unaltered certificates
    out: dict[str, NoteVerifier] = {}
    for path, data in registry.audit_key_certificates():
        statement = verify_audit_key(data, root=registry.root)
        verifier = verifier_from_key_string(statement.vkey)
        if not isinstance(verifier, NoteVerifier) or verifier.name != origin_for(statement.stream):
            raise CertificateError("audit key statement names a wrong key", detail=str(path))
        out[statement.stream] = verifier
    return out


def load_audit_key_times(settings: Settings) -> dict[str, dt.datetime]:
    """Return when each stream's audit key became valid (its root-certified ``not_before``).

    A certified stream with no record at all is a finding once its writer has had time to
    sign its first (possibly empty) checkpoint after this time.
    """
    registry = load_registry(settings)  # the manifest-checked files (finding F14)
    return {
        statement.stream: statement.not_before
        for statement in (
            verify_audit_key(data, root=registry.root)
            for _, data in registry.audit_key_certificates()
        )
    }
