"""Agency key material: what certificates certify, and the private halves.

An agency holds, per usage, one *key set* under one key id:

* SIGN: Ed25519 and ML-DSA-65. Classic envelopes carry an Ed25519 signature;
  post-quantum hybrid envelopes carry both, and both must verify.
* ENCRYPT: X25519 (classic HPKE) and ML-KEM-768 + X25519 (hybrid HPKE). The two
  X25519 keys are distinct, so no key is shared across KEMs.

Example::

    >>> pair = SigningKeyPair.generate(agency="ES-PN", key_id="sig-00000001")
    >>> pair.public().agency, len(pair.public().ed25519.public_bytes_raw())
    ('ES-PN', 32)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.hpke import MLKEM768X25519PrivateKey, MLKEM768X25519PublicKey

from broker.errors import CertificateError, UnknownKeyError

__all__ = [
    "AgencyIdentity",
    "DecryptionKeyPair",
    "EncryptionPublicKeys",
    "SigningKeyPair",
    "SigningPublicKeys",
]

# Algorithm names used as map keys in certificates and key files.
ED25519 = "ed25519"
ML_DSA_65 = "ml-dsa-65"
X25519 = "x25519"
ML_KEM_768 = "ml-kem-768"
HYBRID_X25519 = "ml-kem-768-x25519.x25519"


@dataclass(frozen=True, kw_only=True)
class SigningPublicKeys:
    """The public signing key set one certificate certifies."""

    agency: str
    key_id: str
    ed25519: ed25519.Ed25519PublicKey
    ml_dsa_65: mldsa.MLDSA65PublicKey

    def raw(self) -> dict[str, bytes]:
        """Return the raw public keys by algorithm name."""
        return {
            ED25519: self.ed25519.public_bytes_raw(),
            ML_DSA_65: self.ml_dsa_65.public_bytes_raw(),
        }

    @classmethod
    def from_raw(cls, *, agency: str, key_id: str, keys: Mapping[str, bytes]) -> SigningPublicKeys:
        """Load from raw public keys; raise CertificateError if any is missing or malformed."""
        try:
            return cls(
                agency=agency,
                key_id=key_id,
                ed25519=ed25519.Ed25519PublicKey.from_public_bytes(keys[ED25519]),
                ml_dsa_65=mldsa.MLDSA65PublicKey.from_public_bytes(keys[ML_DSA_65]),
            )
        except (KeyError, ValueError) as exc:
            raise CertificateError("malformed signing keys in certificate") from exc


@dataclass(frozen=True, kw_only=True)
class EncryptionPublicKeys:
    """The public encryption key set one certificate certifies."""

    agency: str
    key_id: str
    x25519: x25519.X25519PublicKey
    ml_kem_768_x25519: MLKEM768X25519PublicKey
    _raw: Mapping[str, bytes]

    def raw(self) -> dict[str, bytes]:
        """Return the raw public keys by algorithm name."""
        return dict(self._raw)

    @classmethod
    def from_raw(
        cls, *, agency: str, key_id: str, keys: Mapping[str, bytes]
    ) -> EncryptionPublicKeys:
        """Load from raw public keys; raise CertificateError if any is missing or malformed."""
        try:
            hybrid = MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(keys[ML_KEM_768]),
                x25519.X25519PublicKey.from_public_bytes(keys[HYBRID_X25519]),
            )
            return cls(
                agency=agency,
                key_id=key_id,
                x25519=x25519.X25519PublicKey.from_public_bytes(keys[X25519]),
                ml_kem_768_x25519=hybrid,
                _raw={k: keys[k] for k in (X25519, ML_KEM_768, HYBRID_X25519)},
            )
        except (KeyError, ValueError) as exc:
            raise CertificateError("malformed encryption keys in certificate") from exc


@dataclass(frozen=True, kw_only=True)
class SigningKeyPair:
    """An agency's private signing key set."""

    agency: str
    key_id: str
    ed25519: ed25519.Ed25519PrivateKey
    ml_dsa_65: mldsa.MLDSA65PrivateKey

    @classmethod
    def generate(cls, *, agency: str, key_id: str) -> SigningKeyPair:
        """Generate a fresh key set."""
        return cls(
            agency=agency,
            key_id=key_id,
            ed25519=ed25519.Ed25519PrivateKey.generate(),
            ml_dsa_65=mldsa.MLDSA65PrivateKey.generate(),
        )

    @classmethod
    def from_seeds(cls, *, agency: str, key_id: str, seeds: Mapping[str, bytes]) -> SigningKeyPair:
        """Rebuild from raw private seeds (as stored in key files and test vectors)."""
        return cls(
            agency=agency,
            key_id=key_id,
            ed25519=ed25519.Ed25519PrivateKey.from_private_bytes(seeds[ED25519]),
            ml_dsa_65=mldsa.MLDSA65PrivateKey.from_seed_bytes(seeds[ML_DSA_65]),
        )

    def seeds(self) -> dict[str, bytes]:
        """Return the raw private seeds (secret!)."""
        return {
            ED25519: self.ed25519.private_bytes_raw(),
            ML_DSA_65: self.ml_dsa_65.private_bytes_raw(),
        }

    def public(self) -> SigningPublicKeys:
        """Return the public half."""
        return SigningPublicKeys(
            agency=self.agency,
            key_id=self.key_id,
            ed25519=self.ed25519.public_key(),
            ml_dsa_65=self.ml_dsa_65.public_key(),
        )


@dataclass(frozen=True, kw_only=True)
class DecryptionKeyPair:
    """An agency's private decryption key set (kept for the retention period)."""

    agency: str
    key_id: str
    x25519: x25519.X25519PrivateKey
    ml_kem_768_x25519: MLKEM768X25519PrivateKey
    _seeds: Mapping[str, bytes]

    @classmethod
    def from_seeds(
        cls, *, agency: str, key_id: str, seeds: Mapping[str, bytes]
    ) -> DecryptionKeyPair:
        """Rebuild from raw private seeds."""
        hybrid = MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(seeds[ML_KEM_768]),
            x25519.X25519PrivateKey.from_private_bytes(seeds[HYBRID_X25519]),
        )
        return cls(
            agency=agency,
            key_id=key_id,
            x25519=x25519.X25519PrivateKey.from_private_bytes(seeds[X25519]),
            ml_kem_768_x25519=hybrid,
            _seeds={k: bytes(seeds[k]) for k in (X25519, ML_KEM_768, HYBRID_X25519)},
        )

    @classmethod
    def generate(cls, *, agency: str, key_id: str) -> DecryptionKeyPair:
        """Generate a fresh key set."""
        seeds = {
            X25519: x25519.X25519PrivateKey.generate().private_bytes_raw(),
            ML_KEM_768: mlkem.MLKEM768PrivateKey.generate().private_bytes_raw(),
            HYBRID_X25519: x25519.X25519PrivateKey.generate().private_bytes_raw(),
        }
        return cls.from_seeds(agency=agency, key_id=key_id, seeds=seeds)

    def seeds(self) -> dict[str, bytes]:
        """Return the raw private seeds (secret!)."""
        return dict(self._seeds)

    def public(self) -> EncryptionPublicKeys:
        """Return the public half."""
        raw = {
            X25519: self.x25519.public_key().public_bytes_raw(),
            ML_KEM_768: mlkem.MLKEM768PrivateKey.from_seed_bytes(self._seeds[ML_KEM_768])
            .public_key()
            .public_bytes_raw(),
            HYBRID_X25519: x25519.X25519PrivateKey.from_private_bytes(self._seeds[HYBRID_X25519])
            .public_key()
            .public_bytes_raw(),
        }
        return EncryptionPublicKeys.from_raw(agency=self.agency, key_id=self.key_id, keys=raw)


@dataclass(frozen=True, kw_only=True)
class AgencyIdentity:
    """One agency's private material: its current signing keys and every decryption key held."""

    agency: str
    signing: SigningKeyPair
    decryption: Mapping[str, DecryptionKeyPair]

    def decryption_key(self, key_id: str) -> DecryptionKeyPair:
        """Return the decryption key set ``key_id``; raise UnknownKeyError if not held."""
        try:
            return self.decryption[key_id]
        except KeyError:
            raise UnknownKeyError(
                "no decryption key with that id", detail=f"{self.agency} holds no {key_id}"
            ) from None
