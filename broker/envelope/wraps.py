"""Key wraps: how an envelope's content key reaches each recipient, per format version.

Version 2 (batch KEM, written by every sealer): per batch and per recipient key R the
sender draws a FRESH 32-byte batch secret S_R (never shared between recipient keys, so
a batch may mix recipient sets) and makes ONE HPKE encapsulation of it::

    batch_wrap_R = HPKE.Seal(pk_R, info=batch_wrap_info(suite, sender, sender key, R, R key), S_R)

Each envelope then wraps its own fresh content key under a wrap key derived from S_R
and bound to the envelope (its id and header hash) and to ``batch_wrap_R`` itself::

    env_wrap = AES-256-GCM(wrap_key(S_R, R, R key, envelope_id, header, batch_wrap_R),
                           nonce=0^96, content_key)          # 48 bytes
    wrapped  = batch_wrap_R || env_wrap

Every envelope still carries everything needed to open it alone. A recipient
decapsulates once per batch: :class:`BatchSecretCache` remembers ``HPKE.Open`` results
keyed by everything that enters Open (suite, key id, info, batch_wrap bytes, and the
private key object itself), so a hit returns exactly what Open would and never changes
a verdict. Version 1 (read only): ``wrapped`` = HPKE.Seal of the content key itself.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> key = fed.trust.encryption_key(agency="DE-BKA", at=fed.now)
    >>> wrapper = BatchWrapper(suite="classic", sender="ES-PN", sender_key_id="sig-1")
    >>> a = wrapper.wrap(key, envelope_id="0" * 32, header=b"h", content_key=bytes(32))
    >>> b = wrapper.wrap(key, envelope_id="1" * 32, header=b"h", content_key=bytes(32))
    >>> len(a), a[:80] == b[:80], wrapper.encapsulations
    (128, True, 1)
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.envelope.format import (
    BATCH_SECRET_BYTES,
    ENV_WRAP_BYTES,
    ENV_WRAP_NONCE,
    SUITES,
    batch_wrap_info,
    wrap_info,
    wrap_key,
)
from broker.errors import ConfigError, DecryptionError
from broker.trust.keys import EncryptionPublicKeys

__all__ = ["DEFAULT_KEM_CACHE_SIZE", "BatchSecretCache", "BatchWrapper", "unwrap"]

#: Batch secrets a recipient remembers (each 32 bytes plus its key).
DEFAULT_KEM_CACHE_SIZE = 1024

# (suite, recipient key id, HPKE info, batch_wrap bytes)
_SecretKey = tuple[str, str, bytes, bytes]


class BatchWrapper:
    """The sender side of one batch: one HPKE encapsulation per distinct recipient key."""

    def __init__(self, *, suite: str, sender: str, sender_key_id: str) -> None:
        spec = SUITES.get(suite)
        if spec is None:
            raise ConfigError(f"unknown suite {suite!r}", detail="use classic or pq-hybrid")
        self._spec = spec
        self._sender = sender
        self._sender_key_id = sender_key_id
        # (agency, key id) -> (S_R, batch_wrap_R); a fresh S_R per recipient key.
        self._secrets: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    @property
    def encapsulations(self) -> int:
        """Return how many HPKE encapsulations this batch made (one per recipient key)."""
        return len(self._secrets)

    def _batch_wrap(self, key: EncryptionPublicKeys) -> tuple[bytes, bytes]:
        entry = self._secrets.get((key.agency, key.key_id))
        if entry is None:
            secret = os.urandom(BATCH_SECRET_BYTES)
            info = batch_wrap_info(
                suite=self._spec.name,
                sender=self._sender,
                sender_key_id=self._sender_key_id,
                agency=key.agency,
                key_id=key.key_id,
            )
            public = key.x25519 if self._spec.name == "classic" else key.ml_kem_768_x25519
            # RFC 9180 section 6.1 single-shot base-mode Seal: returns enc || ct.
            entry = (secret, self._spec.hpke.encrypt(secret, public, info=info))
            self._secrets[(key.agency, key.key_id)] = entry
        return entry

    def wrap(
        self, key: EncryptionPublicKeys, *, envelope_id: str, header: bytes, content_key: bytes
    ) -> bytes:
        """Return ``batch_wrap || env_wrap`` of ``content_key`` for recipient ``key``."""
        secret, batch_wrap = self._batch_wrap(key)
        wk = wrap_key(
            secret,
            agency=key.agency,
            key_id=key.key_id,
            envelope_id=envelope_id,
            header=header,
            batch_wrap=batch_wrap,
        )
        return batch_wrap + AESGCM(wk).encrypt(ENV_WRAP_NONCE, content_key, None)


class BatchSecretCache:
    """A bounded LRU of decapsulated batch secrets (recipient side).

    Keyed by the suite, recipient key id, HPKE ``info`` and ``batch_wrap`` bytes; the
    entry also holds the private key object that opened it and is only used for that
    same object. Everything that enters HPKE Open is thus part of the match, so a hit
    returns exactly what Open would return: it saves work and never changes a verdict.
    """

    def __init__(self, size: int = DEFAULT_KEM_CACHE_SIZE) -> None:
        if size < 0:
            raise ConfigError("the batch secret cache size must be >= 0")
        self._size = size
        self._entries: OrderedDict[_SecretKey, tuple[Any, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def open(
        self,
        *,
        suite: str,
        key_id: str,
        private: Any,
        info: bytes,
        batch_wrap: bytes,
        remember: bool,
    ) -> bytes:
        """Return ``HPKE.Open(private, info, batch_wrap)``; raise DecryptionError if it fails."""
        key: _SecretKey = (suite, key_id, info, batch_wrap)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is private:
            self._entries.move_to_end(key)
            return hit[1]
        try:
            secret = SUITES[suite].hpke.decrypt(batch_wrap, private, info=info)
        except (InvalidTag, ValueError):
            raise DecryptionError("envelope rejected", detail="batch wrap does not open") from None
        if len(secret) != BATCH_SECRET_BYTES:
            raise DecryptionError("envelope rejected", detail="batch secret is not 32 bytes")
        if remember and self._size:
            self._entries[key] = (private, secret)
            self._entries.move_to_end(key)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return secret


def unwrap(
    wrapped: bytes,
    *,
    version: int,
    suite: str,
    agency: str,
    key_id: str,
    private: Any,
    sender: str,
    sender_key_id: str,
    envelope_id: str,
    header: bytes,
    cache: BatchSecretCache,
    remember: bool,
) -> bytes:
    """Return the content key in ``wrapped`` for ``agency``'s key ``key_id`` (``private``).

    Raise DecryptionError if it does not open. ``remember``: keep the batch secret in
    ``cache`` (worth it only for envelopes of a batch of more than one).
    """
    spec = SUITES[suite]
    if version == 1:
        info = wrap_info(agency=agency, key_id=key_id, envelope_id=envelope_id, header=header)
        try:
            return spec.hpke.decrypt(wrapped, private, info=info)
        except (InvalidTag, ValueError):
            raise DecryptionError("envelope rejected", detail="key wrap does not open") from None
    if len(wrapped) != spec.batch_wrap_bytes + ENV_WRAP_BYTES:
        raise DecryptionError("envelope rejected", detail=f"key wrap of {len(wrapped)} bytes")
    batch_wrap = wrapped[: spec.batch_wrap_bytes]
    info = batch_wrap_info(
        suite=suite, sender=sender, sender_key_id=sender_key_id, agency=agency, key_id=key_id
    )
    secret = cache.open(
        suite=suite,
        key_id=key_id,
        private=private,
        info=info,
        batch_wrap=batch_wrap,
        remember=remember,
    )
    wk = wrap_key(
        secret,
        agency=agency,
        key_id=key_id,
        envelope_id=envelope_id,
        header=header,
        batch_wrap=batch_wrap,
    )
    try:
        return AESGCM(wk).decrypt(ENV_WRAP_NONCE, wrapped[spec.batch_wrap_bytes :], None)
    except InvalidTag:
        raise DecryptionError("envelope rejected", detail="envelope wrap does not open") from None
