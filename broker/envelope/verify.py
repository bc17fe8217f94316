"""Verify and open envelopes. Fail closed: every failure is one of our error types.

:meth:`Verifier.verify` checks an envelope without decrypting it — what the
router does with only the public registry. :meth:`Verifier.open` then unwraps
the content key for one recipient, checks the key commitment, decrypts, and
checks that the sender, recipients and envelope id inside the plaintext match
the signed header (Davis 2001: a recipient cannot re-sign and forward as its
own). Order of checks: size (at most :data:`MAX_ENVELOPE_BYTES`, before anything
is decoded) → decode (canonical bytes only) → version → suite → header
sanity → expiry → transit (optional) → sender key valid at ``created_at`` (and,
optionally, still in service at receive time) → signature(s) → (open)
wrap → commitment → AEAD → inner binding → payload fingerprint.

Format versions 1 and 2 are both read (:data:`READABLE_VERSIONS`); they differ only
in the TBS tag and the key wraps (:func:`broker.envelope.wraps.unwrap`). Version 2
batch secrets are remembered per recipient key (:class:`BatchSecretCache`), so a
consumer decapsulates once per batch; a hit never changes a verdict.

Batch signatures: the verifier caches the batch signatures it has verified
(LRU, keyed by root, size, signer key *and* the signature bytes themselves), so
a consumer pays one signature check per batch, not per envelope, and an
envelope whose signature bytes were altered is still refused on a warm cache.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN"])
    >>> Verifier(trust=fed.trust).verify(b"not an envelope")
    Traceback (most recent call last):
    ...
    broker.errors.MalformedEnvelopeError: envelope rejected
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections import OrderedDict
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import merkle
from broker.codec import SchemaStore
from broker.envelope.format import (
    ENVELOPE_ID,
    ENVELOPE_SCHEMA,
    HEADER_SCHEMA,
    INNER_SCHEMA,
    KINDS,
    MAX_LIFETIME,
    ML_DSA_CONTEXT,
    READABLE_VERSIONS,
    SUITES,
    Header,
    aware_now,
    batch_message,
    commitment,
    tbs,
)
from broker.envelope.opened import OpenedEnvelope, VerifiedEnvelope
from broker.envelope.wraps import DEFAULT_KEM_CACHE_SIZE, BatchSecretCache, unwrap
from broker.errors import (
    ConfigError,
    DecryptionError,
    EnvelopeError,
    Error,
    ExpiredEnvelopeError,
    MalformedEnvelopeError,
    NotARecipientError,
    OversizedEnvelopeError,
    SchemaError,
    SignatureError,
    StaleEnvelopeError,
    UnsupportedSuiteError,
    UnsupportedVersionError,
)
from broker.trust.keys import AgencyIdentity, SigningPublicKeys
from broker.trust.registry import TrustStore

__all__ = [
    "DEFAULT_KEY_GRACE",
    "DEFAULT_MAX_TRANSIT",
    "DEFAULT_SKEW",
    "MAX_ENVELOPE_BYTES",
    "MAX_LIFETIME",
    "Verifier",
    "claimed_envelope_id",
    "open_envelope",
    "verify_envelope",
]

_PEER_MESSAGE = "envelope rejected"
DEFAULT_SKEW = dt.timedelta(minutes=5)
#: The largest envelope accepted anywhere (900 KiB). Well below Kafka's default
#: ``message.max.bytes`` (about 1 MiB), so the router's inbox copy (a key and trace
#: headers more) and a bounded dead letter always fit: no envelope, however built, can
#: make a write fail and stall an inbox. The verifier and the router both enforce it.
MAX_ENVELOPE_BYTES = 900 * 1024
#: The router refuses envelopes created longer ago than this (``stale``): the signer
#: chooses ``created_at``, so without a bound a retired key could back-date new ones.
DEFAULT_MAX_TRANSIT = dt.timedelta(hours=24)
#: A consumer accepts a sender key retired (rotated out or expired) at most this long
#: before it receives the envelope: a grace for envelopes in flight during a rotation.
DEFAULT_KEY_GRACE = dt.timedelta(days=7)

_DIRECT = "eu.fed.envelope.DirectSignature"
_BATCH = "eu.fed.envelope.BatchSignature"
# (root, size, suite, Ed25519 public key, Ed25519 signature, ML-DSA-65 signature)
_CacheKey = tuple[bytes, int, str, bytes, bytes, bytes | None]


def _reject(cls: type[EnvelopeError], detail: str) -> EnvelopeError:
    # Peers see only "envelope rejected" and the class; the cause goes to diagnostics().
    return cls(_PEER_MESSAGE, detail=detail)


class Verifier:
    """Verify and open envelopes against a trust store; cache verified batch signatures.

    Keep one per consumer or router for the batch cache to pay off. ``skew`` is the
    clock-skew allowance for ``created_at``; ``max_lifetime`` the longest accepted
    ``expires_at - created_at``; ``cache_size`` the number of batch signatures
    remembered (0 disables the cache); ``kem_cache_size`` the number of version 2
    batch secrets remembered (0 disables that cache); ``max_envelope_bytes`` the largest envelope
    looked at (anything larger is refused before any decoding or cryptography).

    Back-dating (a retired key minting new envelopes with an old ``created_at``) is
    bounded by a trusted receive time, ``now``: ``max_transit`` (the router's setting)
    refuses envelopes created longer ago than that (``stale``); ``key_grace`` (the
    consumer's) requires the sender key to be still valid at ``now - key_grace``, so
    a key superseded or expired longer ago fails with its own trust error. ``None``
    (the default) skips each bound, for re-verifying stored envelopes later.
    """

    def __init__(
        self,
        *,
        trust: TrustStore,
        skew: dt.timedelta = DEFAULT_SKEW,
        max_lifetime: dt.timedelta = MAX_LIFETIME,
        cache_size: int = 4096,
        kem_cache_size: int = DEFAULT_KEM_CACHE_SIZE,
        max_envelope_bytes: int = MAX_ENVELOPE_BYTES,
        max_transit: dt.timedelta | None = None,
        key_grace: dt.timedelta | None = None,
    ) -> None:
        if (
            cache_size < 0
            or kem_cache_size < 0
            or skew < dt.timedelta(0)
            or max_lifetime <= dt.timedelta(0)
        ):
            raise ConfigError("cache_size and skew must be >= 0, max_lifetime > 0")
        if max_envelope_bytes < 1:
            raise ConfigError("max_envelope_bytes must be > 0")
        self.max_envelope_bytes = max_envelope_bytes
        if (max_transit is not None and max_transit <= dt.timedelta(0)) or (
            key_grace is not None and key_grace < dt.timedelta(0)
        ):
            raise ConfigError("max_transit must be > 0 and key_grace >= 0")
        self.max_transit = max_transit
        self.key_grace = key_grace
        self.trust = trust
        self.skew = skew
        self.max_lifetime = max_lifetime
        self._cache: OrderedDict[_CacheKey, None] = OrderedDict()
        self._cache_size = cache_size
        self._secrets = BatchSecretCache(kem_cache_size)
        self._store = SchemaStore.default()

    @property
    def cached_batches(self) -> int:
        """Return how many verified batch signatures are cached."""
        return len(self._cache)

    @property
    def cached_batch_secrets(self) -> int:
        """Return how many decapsulated version 2 batch secrets are cached."""
        return len(self._secrets)

    # -- decoding ----------------------------------------------------------------------

    def _decode(self, data: bytes) -> tuple[dict[str, Any], Header]:
        try:
            outer = self._store.decode(ENVELOPE_SCHEMA, data)
        except SchemaError as exc:
            raise _reject(MalformedEnvelopeError, f"outer: {exc.diagnostics()}") from None
        # Only the canonical encoding is accepted, so no two byte strings open alike. The
        # decoded signature's fields name its union branch; passing it in fastavro's tuple
        # notation skips the union resolution (the bytes compared are the same).
        sig = outer["signature"]
        branch = _BATCH if "batch_root" in sig else _DIRECT
        if self._store.encode(ENVELOPE_SCHEMA, {**outer, "signature": (branch, sig)}) != data:
            raise _reject(MalformedEnvelopeError, "non-canonical envelope encoding")
        header_bytes: bytes = outer["header"]
        try:
            fp, _ = self._store.split(header_bytes)
        except SchemaError:
            raise _reject(MalformedEnvelopeError, "header is not single-object encoded") from None
        if fp != self._store.fingerprint(HEADER_SCHEMA):
            raise _reject(UnsupportedVersionError, f"unknown header schema {fp.hex()}")
        try:
            rec = self._store.decode(HEADER_SCHEMA, header_bytes)
        except SchemaError as exc:
            raise _reject(MalformedEnvelopeError, f"header: {exc.diagnostics()}") from None
        if self._store.encode(HEADER_SCHEMA, rec) != header_bytes:
            raise _reject(MalformedEnvelopeError, "non-canonical header encoding")
        header = Header.from_avro(rec)
        if header.format_version not in READABLE_VERSIONS:
            raise _reject(UnsupportedVersionError, f"format version {header.format_version}")
        if header.suite not in SUITES:
            raise _reject(UnsupportedSuiteError, f"suite {header.suite!r}")
        if header.kind not in KINDS:
            raise _reject(MalformedEnvelopeError, f"kind {header.kind!r}")
        if not ENVELOPE_ID.fullmatch(header.envelope_id):
            raise _reject(MalformedEnvelopeError, "malformed envelope id")
        agencies = header.recipient_agencies
        if not agencies or agencies != sorted(set(agencies)):
            raise _reject(MalformedEnvelopeError, "recipients not sorted, unique and non-empty")
        wraps = [(w["agency"], w["key_id"]) for w in outer["wraps"]]
        if wraps != header.recipients:
            raise _reject(MalformedEnvelopeError, "key wraps do not match the header recipients")
        if len(outer["nonce"]) != 12 or len(outer["commitment"]) != 32:
            raise _reject(MalformedEnvelopeError, "bad nonce or commitment length")
        if header.sequence < 1:
            raise _reject(MalformedEnvelopeError, f"sequence {header.sequence} < 1")
        return outer, header

    # -- verification --------------------------------------------------------------------

    def verify(self, data: bytes, *, now: dt.datetime | None = None) -> VerifiedEnvelope:
        """Verify ``data``'s signature(s) against the trust store, without decrypting."""
        at = aware_now(now)
        try:
            return self._verify(bytes(data), at)[1]
        except Error:
            raise
        except Exception as exc:
            # The one boundary where anything unforeseen (fastavro, cryptography) becomes ours.
            raise _reject(MalformedEnvelopeError, f"unexpected {type(exc).__name__}") from exc

    def _verify(self, data: bytes, now: dt.datetime) -> tuple[dict[str, Any], VerifiedEnvelope]:
        if len(data) > self.max_envelope_bytes:
            raise _reject(OversizedEnvelopeError, f"{len(data)} bytes > {self.max_envelope_bytes}")
        outer, header = self._decode(data)
        if now > header.expires_at:
            raise _reject(ExpiredEnvelopeError, f"expired at {header.expires_at}")
        if header.created_at > now + self.skew:
            raise _reject(ExpiredEnvelopeError, f"created in the future: {header.created_at}")
        if header.expires_at <= header.created_at:
            raise _reject(MalformedEnvelopeError, "expires before it was created")
        if header.expires_at - header.created_at > self.max_lifetime:
            raise _reject(MalformedEnvelopeError, f"lifetime exceeds {self.max_lifetime}")
        if self.max_transit is not None and header.created_at < now - self.max_transit:
            raise _reject(
                StaleEnvelopeError, f"created {header.created_at}, before now - {self.max_transit}"
            )
        keys = self.trust.signing_key(
            agency=header.sender, key_id=header.sender_key_id, at=header.created_at
        )
        if self.key_grace is not None and header.created_at < now - self.key_grace:
            # Valid when (it says) it was signed, but is the key still in service now? A key
            # retired (SUPERSEDED, expired) before now - grace raises its own TrustError.
            self.trust.signing_key(
                agency=header.sender, key_id=header.sender_key_id, at=now - self.key_grace
            )
        spec = SUITES[header.suite]
        sig = outer["signature"]
        if (sig["ml_dsa_65"] is not None) != spec.requires_ml_dsa:
            wanted = "both signatures" if spec.requires_ml_dsa else "Ed25519 only"
            raise _reject(SignatureError, f"suite {spec.name} requires {wanted} (downgrade?)")
        message = tbs(
            header=outer["header"],
            wraps=[(w["agency"], w["key_id"], w["wrapped"]) for w in outer["wraps"]],
            nonce=outer["nonce"],
            ciphertext=outer["ciphertext"],
            commitment=outer["commitment"],
            version=header.format_version,
        )
        batch_root: bytes | None = None
        if "batch_root" in sig:
            batch_root = sig["batch_root"]
            try:
                merkle.verify_inclusion(
                    leaf_hash=merkle.leaf_hash(message),
                    index=sig["leaf_index"],
                    size=sig["batch_size"],
                    proof=sig["path"],
                    root=batch_root,
                )
            except merkle.MerkleError as exc:
                raise _reject(SignatureError, f"batch path: {exc.message}") from None
            # The cache remembers exactly what was verified: the signed (root, size), the
            # signer's key material and the signature bytes. A hit therefore means these very
            # bytes verified before, so a cached root never vouches for altered signature fields
            # (which an auditor re-verifying the stored envelope would later find invalid).
            key: _CacheKey = (
                batch_root,
                sig["batch_size"],
                header.suite,
                keys.ed25519.public_bytes_raw(),
                sig["ed25519"],
                sig["ml_dsa_65"],
            )
            if key in self._cache:
                self._cache.move_to_end(key)
            else:
                self._check_signatures(keys, batch_message(batch_root, sig["batch_size"]), sig)
                if self._cache_size:
                    self._cache[key] = None
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        else:
            self._check_signatures(keys, message, sig)
        return outer, VerifiedEnvelope(
            header=header, header_bytes=outer["header"], batch_root=batch_root
        )

    @staticmethod
    def _check_signatures(keys: SigningPublicKeys, message: bytes, sig: dict[str, Any]) -> None:
        try:
            keys.ed25519.verify(sig["ed25519"], message)
        except InvalidSignature:
            raise _reject(SignatureError, "Ed25519 signature does not verify") from None
        if sig["ml_dsa_65"] is not None:
            try:
                keys.ml_dsa_65.verify(sig["ml_dsa_65"], message, context=ML_DSA_CONTEXT)
            except InvalidSignature:
                raise _reject(SignatureError, "ML-DSA-65 signature does not verify") from None

    # -- opening ---------------------------------------------------------------------------

    def open(
        self, data: bytes, *, identity: AgencyIdentity, now: dt.datetime | None = None
    ) -> OpenedEnvelope:
        """Verify, then decrypt ``data`` for ``identity``; return payload and provenance."""
        at = aware_now(now)
        try:
            return self._open(bytes(data), identity, at)
        except Error:
            raise
        except Exception as exc:
            raise _reject(MalformedEnvelopeError, f"unexpected {type(exc).__name__}") from exc

    def _open(self, data: bytes, identity: AgencyIdentity, now: dt.datetime) -> OpenedEnvelope:
        # Encrypt-then-sign: nothing is decrypted before the signature has verified.
        outer, verified = self._verify(data, now)
        header = verified.header
        me = identity.agency
        mine = [w for w in outer["wraps"] if w["agency"] == me]
        if not mine:
            raise _reject(NotARecipientError, f"{me} is not among {header.recipient_agencies}")
        wrap = mine[0]
        key_pair = identity.decryption_key(wrap["key_id"])
        sig = outer["signature"]
        content_key = unwrap(
            wrap["wrapped"],
            version=header.format_version,
            suite=header.suite,
            agency=me,
            key_id=wrap["key_id"],
            private=key_pair.x25519 if header.suite == "classic" else key_pair.ml_kem_768_x25519,
            sender=header.sender,
            sender_key_id=header.sender_key_id,
            envelope_id=header.envelope_id,
            header=verified.header_bytes,
            cache=self._secrets,
            # Only a batch of more than one can reuse its secret (mind the cache's size).
            remember=sig.get("batch_size", 1) > 1,
        )
        if len(content_key) != 32 or not hmac.compare_digest(
            commitment(content_key, header.envelope_id), outer["commitment"]
        ):
            raise _reject(DecryptionError, "key commitment mismatch")
        try:
            inner_bytes = AESGCM(content_key).decrypt(
                outer["nonce"], outer["ciphertext"], verified.header_bytes
            )
        except InvalidTag:
            raise _reject(DecryptionError, "content does not decrypt") from None
        try:
            inner = self._store.decode(INNER_SCHEMA, inner_bytes)
        except SchemaError:
            raise _reject(MalformedEnvelopeError, "inner plaintext malformed") from None
        if (
            inner["sender"] != header.sender
            or inner["recipients"] != header.recipient_agencies
            or inner["envelope_id"] != header.envelope_id
        ):
            raise _reject(  # the inner values are decrypted content: never quoted
                SignatureError,
                "inner sender/recipients/id differ from the signed header (re-signed?)",
            )
        payload: bytes = inner["payload"]
        try:
            fp, _ = self._store.split(payload)
        except SchemaError:
            raise _reject(MalformedEnvelopeError, "payload is not single-object encoded") from None
        if fp != header.payload_fingerprint:
            raise _reject(MalformedEnvelopeError, "payload fingerprint differs from the header")
        return OpenedEnvelope(
            header=header,
            recipient=me,
            recipient_key_id=wrap["key_id"],
            payload=payload,
            content_key=content_key,
        )


def verify_envelope(
    data: bytes, *, trust: TrustStore, now: dt.datetime | None = None
) -> VerifiedEnvelope:
    """Verify an envelope's signature with the public registry only."""
    return Verifier(trust=trust).verify(data, now=now)


def open_envelope(
    data: bytes, *, trust: TrustStore, identity: AgencyIdentity, now: dt.datetime | None = None
) -> OpenedEnvelope:
    """Verify and decrypt an envelope for one recipient."""
    return Verifier(trust=trust).open(data, identity=identity, now=now)


def claimed_envelope_id(data: bytes) -> str | None:
    """Return the envelope id the header of ``data`` claims, if it decodes; verify nothing.

    For dead letters and audit events of rejected records: the id names what the
    bytes claim to be (so an operator can find every trace of one envelope), it
    proves nothing. None unless the envelope and its header decode and the id is
    32 lower-case hex characters.

        >>> claimed_envelope_id(b"not an envelope") is None
        True
    """
    store = SchemaStore.default()
    try:
        outer = store.decode(ENVELOPE_SCHEMA, bytes(data))
        envelope_id = store.decode(HEADER_SCHEMA, outer["header"])["envelope_id"]
    except (SchemaError, KeyError, TypeError):
        return None
    if not isinstance(envelope_id, str) or not ENVELOPE_ID.fullmatch(envelope_id):
        return None
    return envelope_id
