"""Key certificates, revocations and registry manifests, signed by the federation root.

A statement (``eu.fed.trust.KeyCertificate``, ``eu.fed.trust.Revocation``,
``eu.fed.trust.AuditKey`` or ``eu.fed.trust.RegistryManifest``) is
Avro single-object encoded once; the root signs ``frame(type, body)`` with
Ed25519 *and* ML-DSA-65 (context ``fed-trust-v1``). Verification runs over the
stored body bytes, then decodes them — never a re-encoding. Both signatures are
required: trust must outlive a quantum computer and a classical break alike.

Example::

    >>> import datetime as dt
    >>> root = FederationRoot.generate()
    >>> now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> from broker.trust.keys import SigningKeyPair
    >>> pair = SigningKeyPair.generate(agency="ES-PN", key_id="sig-1")
    >>> signed = root.certify_signing(pair.public(), not_before=now, days=365)
    >>> verify_certificate(signed, root=root.public()).agency
    'ES-PN'
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from broker._internal.framing import frame
from broker.codec import SchemaStore
from broker.errors import CertificateError, SchemaError
from broker.trust.keys import (
    ED25519,
    ML_DSA_65,
    EncryptionPublicKeys,
    SigningPublicKeys,
)

__all__ = [
    "AuditKeyStatement",
    "Certificate",
    "FederationRoot",
    "RegistryManifest",
    "RevocationRecord",
    "RootPublicKeys",
    "verify_audit_key",
    "verify_certificate",
    "verify_manifest",
    "verify_revocation",
]

CERT_TYPE = "fed-key-cert-v1"
REVOCATION_TYPE = "fed-revocation-v1"
AUDIT_KEY_TYPE = "fed-audit-key-v1"
MANIFEST_TYPE = "fed-registry-manifest-v1"
_CONTEXT = b"fed-trust-v1"
_SIGNED = "eu.fed.trust.SignedStatement"


@dataclass(frozen=True, kw_only=True)
class Certificate:
    """A verified key certificate."""

    agency: str
    key_id: str
    usage: str
    public_keys: dict[str, bytes]
    not_before: dt.datetime
    not_after: dt.datetime
    issued_at: dt.datetime
    serial: str

    def signing_keys(self) -> SigningPublicKeys:
        """Return the certified signing keys (usage must be SIGN)."""
        return SigningPublicKeys.from_raw(
            agency=self.agency, key_id=self.key_id, keys=self.public_keys
        )

    def encryption_keys(self) -> EncryptionPublicKeys:
        """Return the certified encryption keys (usage must be ENCRYPT)."""
        return EncryptionPublicKeys.from_raw(
            agency=self.agency, key_id=self.key_id, keys=self.public_keys
        )


@dataclass(frozen=True, kw_only=True)
class RevocationRecord:
    """A verified revocation."""

    agency: str
    key_id: str
    kind: str
    revoked_at: dt.datetime
    reason: str


@dataclass(frozen=True, kw_only=True)
class RegistryManifest:
    """A verified registry manifest: which public files make up the registry, at which version."""

    version: int
    issued_at: dt.datetime
    members: list[str]
    files: dict[str, bytes]  # path under agencies/ -> SHA-256 of its exact bytes


@dataclass(frozen=True, kw_only=True)
class RootPublicKeys:
    """The federation root's public keys: the trust anchor."""

    ed25519: ed25519.Ed25519PublicKey
    ml_dsa_65: mldsa.MLDSA65PublicKey

    def raw(self) -> dict[str, bytes]:
        """Return the raw public keys by algorithm name."""
        return {
            ED25519: self.ed25519.public_bytes_raw(),
            ML_DSA_65: self.ml_dsa_65.public_bytes_raw(),
        }

    @classmethod
    def from_raw(cls, keys: dict[str, bytes]) -> RootPublicKeys:
        """Load from raw public keys."""
        try:
            return cls(
                ed25519=ed25519.Ed25519PublicKey.from_public_bytes(keys[ED25519]),
                ml_dsa_65=mldsa.MLDSA65PublicKey.from_public_bytes(keys[ML_DSA_65]),
            )
        except (KeyError, ValueError) as exc:
            raise CertificateError("malformed federation root public keys") from exc


class FederationRoot:
    """The federation root's private keys; it certifies and revokes agency keys."""

    def __init__(
        self, *, ed25519_key: ed25519.Ed25519PrivateKey, ml_dsa_key: mldsa.MLDSA65PrivateKey
    ) -> None:
        self._ed = ed25519_key
        self._ml = ml_dsa_key

    @classmethod
    def generate(cls) -> FederationRoot:
        """Generate a new root."""
        return cls(
            ed25519_key=ed25519.Ed25519PrivateKey.generate(),
            ml_dsa_key=mldsa.MLDSA65PrivateKey.generate(),
        )

    @classmethod
    def from_seeds(cls, seeds: dict[str, bytes]) -> FederationRoot:
        """Rebuild from raw private seeds."""
        return cls(
            ed25519_key=ed25519.Ed25519PrivateKey.from_private_bytes(seeds[ED25519]),
            ml_dsa_key=mldsa.MLDSA65PrivateKey.from_seed_bytes(seeds[ML_DSA_65]),
        )

    def seeds(self) -> dict[str, bytes]:
        """Return the raw private seeds (secret!)."""
        return {ED25519: self._ed.private_bytes_raw(), ML_DSA_65: self._ml.private_bytes_raw()}

    def public(self) -> RootPublicKeys:
        """Return the trust anchor."""
        return RootPublicKeys(ed25519=self._ed.public_key(), ml_dsa_65=self._ml.public_key())

    def _sign(self, statement_type: str, body: bytes) -> bytes:
        message = frame(statement_type, body)
        return SchemaStore.default().encode(
            _SIGNED,
            {
                "type": statement_type,
                "body": body,
                "ed25519": self._ed.sign(message),
                "ml_dsa_65": self._ml.sign(message, context=_CONTEXT),
            },
        )

    def certify(
        self,
        *,
        agency: str,
        key_id: str,
        usage: str,
        public_keys: dict[str, bytes],
        not_before: dt.datetime,
        days: int,
    ) -> bytes:
        """Return the signed certificate bytes for one key set."""
        body = SchemaStore.default().encode(
            "eu.fed.trust.KeyCertificate",
            {
                "agency": agency,
                "key_id": key_id,
                "usage": usage,
                "public_keys": public_keys,
                "not_before": not_before,
                "not_after": not_before + dt.timedelta(days=days),
                "issued_at": dt.datetime.now(dt.UTC),
                "serial": secrets.token_hex(8),
            },
        )
        return self._sign(CERT_TYPE, body)

    def certify_signing(
        self, keys: SigningPublicKeys, *, not_before: dt.datetime, days: int
    ) -> bytes:
        """Certify a signing key set."""
        return self.certify(
            agency=keys.agency,
            key_id=keys.key_id,
            usage="SIGN",
            public_keys=keys.raw(),
            not_before=not_before,
            days=days,
        )

    def certify_encryption(
        self, keys: EncryptionPublicKeys, *, not_before: dt.datetime, days: int
    ) -> bytes:
        """Certify an encryption key set."""
        return self.certify(
            agency=keys.agency,
            key_id=keys.key_id,
            usage="ENCRYPT",
            public_keys=keys.raw(),
            not_before=not_before,
            days=days,
        )

    def revoke(
        self, *, agency: str, key_id: str, kind: str, revoked_at: dt.datetime, reason: str
    ) -> bytes:
        """Return the signed revocation bytes."""
        body = SchemaStore.default().encode(
            "eu.fed.trust.Revocation",
            {
                "agency": agency,
                "key_id": key_id,
                "kind": kind,
                "revoked_at": revoked_at,
                "reason": reason,
            },
        )
        return self._sign(REVOCATION_TYPE, body)

    def certify_audit_key(self, *, stream: str, vkey: str, not_before: dt.datetime) -> bytes:
        """Return the signed statement that ``vkey`` signs audit stream ``stream``'s checkpoints."""
        body = SchemaStore.default().encode(
            "eu.fed.trust.AuditKey",
            {
                "stream": stream,
                "vkey": vkey,
                "not_before": not_before,
                "issued_at": dt.datetime.now(dt.UTC),
            },
        )
        return self._sign(AUDIT_KEY_TYPE, body)

    def sign_manifest(
        self,
        *,
        version: int,
        members: list[str],
        files: dict[str, bytes],
        issued_at: dt.datetime | None = None,
    ) -> bytes:
        """Return the signed registry manifest listing ``files`` (path -> SHA-256)."""
        body = SchemaStore.default().encode(
            "eu.fed.trust.RegistryManifest",
            {
                "version": version,
                "issued_at": issued_at or dt.datetime.now(dt.UTC),
                "members": sorted(members),
                "files": [{"path": p, "sha256": files[p]} for p in sorted(files)],
            },
        )
        return self._sign(MANIFEST_TYPE, body)


@dataclass(frozen=True, kw_only=True)
class AuditKeyStatement:
    """A root-certified audit checkpoint key (``eu.fed.trust.AuditKey``)."""

    stream: str
    vkey: str
    not_before: dt.datetime
    issued_at: dt.datetime


def _open(data: bytes, *, root: RootPublicKeys, statement_type: str, schema: str) -> dict[str, Any]:
    store = SchemaStore.default()
    try:
        signed = store.decode(_SIGNED, data)
    except SchemaError as exc:
        raise CertificateError("malformed signed statement") from exc
    if signed["type"] != statement_type:
        raise CertificateError(
            "wrong statement type", detail=f"expected {statement_type}, got {signed['type']!r}"
        )
    body: bytes = signed["body"]
    message = frame(statement_type, body)
    try:
        root.ed25519.verify(signed["ed25519"], message)
    except InvalidSignature:
        raise CertificateError("root Ed25519 signature does not verify") from None
    try:
        root.ml_dsa_65.verify(signed["ml_dsa_65"], message, context=_CONTEXT)
    except InvalidSignature:
        raise CertificateError("root ML-DSA-65 signature does not verify") from None
    try:
        return store.decode(schema, body)
    except SchemaError as exc:
        raise CertificateError("malformed statement body") from exc


def verify_certificate(data: bytes, *, root: RootPublicKeys) -> Certificate:
    """Verify signed certificate bytes against the root and return the certificate."""
    rec = _open(data, root=root, statement_type=CERT_TYPE, schema="eu.fed.trust.KeyCertificate")
    return Certificate(**rec)


def verify_revocation(data: bytes, *, root: RootPublicKeys) -> RevocationRecord:
    """Verify signed revocation bytes against the root and return the revocation."""
    rec = _open(data, root=root, statement_type=REVOCATION_TYPE, schema="eu.fed.trust.Revocation")
    return RevocationRecord(**rec)


def verify_audit_key(data: bytes, *, root: RootPublicKeys) -> AuditKeyStatement:
    """Verify a signed audit-key statement against the root and return it."""
    rec = _open(data, root=root, statement_type=AUDIT_KEY_TYPE, schema="eu.fed.trust.AuditKey")
    return AuditKeyStatement(**rec)


def verify_manifest(data: bytes, *, root: RootPublicKeys) -> RegistryManifest:
    """Verify a signed registry manifest against the root and return it."""
    rec = _open(
        data, root=root, statement_type=MANIFEST_TYPE, schema="eu.fed.trust.RegistryManifest"
    )
    files = {f["path"]: f["sha256"] for f in rec["files"]}
    if len(files) != len(rec["files"]) or any(len(h) != 32 for h in files.values()):
        raise CertificateError("malformed registry manifest", detail="duplicate path or bad hash")
    if rec["version"] < 1:
        raise CertificateError("malformed registry manifest", detail="version below 1")
    return RegistryManifest(
        version=rec["version"], issued_at=rec["issued_at"], members=rec["members"], files=files
    )
