"""An attacker's own envelope assembler, and an AES-GCM ciphertext valid under two keys.

The attack tests must not be limited to what :func:`broker.envelope.seal` is willing to
produce: a malicious sender or recipient writes its own sealer. :func:`assemble` builds an
envelope from chosen parts with the real primitives (nothing mocked), signing with whatever
key the attacker holds. :func:`two_key_gcm_ciphertext` is the "invisible salamanders"
construction (Dodis et al., CRYPTO 2018; Len et al., "Partitioning Oracle Attacks", USENIX
Security 2021): AES-GCM is not key-committing, so one (nonce, ciphertext, tag) can be made to
authenticate under two different keys by solving one linear equation in GF(2^128).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.codec import SchemaStore
from broker.envelope.format import (
    ENVELOPE_SCHEMA,
    HEADER_SCHEMA,
    ML_DSA_CONTEXT,
    SUITES,
    commitment,
    tbs,
    wrap_info,
)
from broker.envelope.wraps import BatchWrapper
from broker.trust.keys import SigningKeyPair
from broker.trust.registry import TrustStore

STORE = SchemaStore.default()


def assemble(
    *,
    header: dict[str, Any],
    inner: bytes,
    trust: TrustStore,
    signer: SigningKeyPair,
    content_key: bytes,
    wrapped_keys: Mapping[str, bytes] | None = None,
    nonce: bytes | None = None,
    ciphertext: bytes | None = None,
) -> bytes:
    """Return envelope bytes built from attacker-chosen parts, signed by ``signer``.

    ``wrapped_keys`` overrides, per recipient agency, the key wrapped to it; the
    commitment is always computed over ``content_key``. The key wraps follow the header's
    ``format_version``: version 2 batch KEM (a batch of one), version 1 HPKE per envelope.
    """
    header_bytes = STORE.encode(HEADER_SCHEMA, header)
    nonce = nonce if nonce is not None else os.urandom(12)
    if ciphertext is None:
        ciphertext = AESGCM(content_key).encrypt(nonce, inner, header_bytes)
    spec = SUITES[header["suite"]]
    version = header["format_version"]
    wrapper = BatchWrapper(
        suite=header["suite"], sender=header["sender"], sender_key_id=header["sender_key_id"]
    )
    wraps = []
    for ref in header["recipients"]:
        agency, key_id = ref["agency"], ref["key_id"]
        keys = trust.encryption_key(agency=agency, key_id=key_id, at=header["created_at"])
        key = (wrapped_keys or {}).get(agency, content_key)
        if version == 1:
            public = keys.x25519 if header["suite"] == "classic" else keys.ml_kem_768_x25519
            info = wrap_info(
                agency=agency, key_id=key_id, envelope_id=header["envelope_id"], header=header_bytes
            )
            wraps.append((agency, key_id, spec.hpke.encrypt(key, public, info=info)))
        else:
            eid = header["envelope_id"]
            wraps.append(
                (
                    agency,
                    key_id,
                    wrapper.wrap(keys, envelope_id=eid, header=header_bytes, content_key=key),
                )
            )
    commit = commitment(content_key, header["envelope_id"])
    message = tbs(
        header=header_bytes,
        wraps=wraps,
        nonce=nonce,
        ciphertext=ciphertext,
        commitment=commit,
        version=version,
    )
    signature = {
        "ed25519": signer.ed25519.sign(message),
        "ml_dsa_65": (
            signer.ml_dsa_65.sign(message, context=ML_DSA_CONTEXT) if spec.requires_ml_dsa else None
        ),
    }
    return STORE.encode(
        ENVELOPE_SCHEMA,
        {
            "header": header_bytes,
            "wraps": [{"agency": a, "key_id": k, "wrapped": w} for a, k, w in wraps],
            "nonce": nonce,
            "ciphertext": ciphertext,
            "commitment": commit,
            "signature": signature,
        },
    )


# -- GF(2^128) as GCM defines it (NIST SP 800-38D, section 6.3) ------------------------------

_R = 0xE1 << 120


def _mul(x: int, y: int) -> int:
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _pow(x: int, e: int) -> int:
    result, base = 1 << 127, x  # 1 << 127 is the field's one in GCM's reflected bit order
    while e:
        if e & 1:
            result = _mul(result, base)
        base = _mul(base, base)
        e >>= 1
    return result


def _inverse(x: int) -> int:
    return _pow(x, (1 << 128) - 2)


def _blocks(data: bytes) -> list[int]:
    padded = data + bytes(-len(data) % 16)
    return [int.from_bytes(padded[i : i + 16], "big") for i in range(0, len(padded), 16)]


def _ghash(h: int, aad: bytes, ct: bytes) -> int:
    x = 0
    lengths = struct.pack(">QQ", len(aad) * 8, len(ct) * 8)
    for block in [*_blocks(aad), *_blocks(ct), int.from_bytes(lengths, "big")]:
        x = _mul(x ^ block, h)
    return x


def _aes_block(key: bytes, block: bytes) -> int:
    # A single raw AES block: GCM's hash key H = E_K(0^128) and tag mask E_K(J0).
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return int.from_bytes(enc.update(block) + enc.finalize(), "big")


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    # GCM's CTR starts at inc32(J0), J0 = nonce || 0^31 || 1 for 96-bit nonces.
    enc = Cipher(algorithms.AES(key), modes.CTR(nonce + b"\x00\x00\x00\x02")).encryptor()
    return enc.update(bytes(length)) + enc.finalize()


def two_key_gcm_ciphertext(
    *, key1: bytes, key2: bytes, nonce: bytes, aad: bytes, plaintext1: bytes, free_block: int
) -> bytes:
    """Return ``ct || tag`` that AES-GCM-decrypts under both keys (to different plaintexts).

    Under ``key1`` it decrypts to ``plaintext1`` except 16-byte block ``free_block``, which
    is chosen to make the tags agree; under ``key2`` it decrypts to something else.
    """
    stream = _keystream(key1, nonce, len(plaintext1))
    ct = bytearray(a ^ b for a, b in zip(plaintext1, stream, strict=True))
    start = free_block * 16
    if start + 16 > len(ct):
        raise ValueError("the free block must be a full block inside the plaintext")
    ct[start : start + 16] = bytes(16)
    h1, h2 = _aes_block(key1, bytes(16)), _aes_block(key2, bytes(16))
    j0 = nonce + b"\x00\x00\x00\x01"
    mask1, mask2 = _aes_block(key1, j0), _aes_block(key2, j0)
    # GHASH is linear in each block: GHASH_H(A, C) = G(C with block j zeroed) + C_j * H^e,
    # e counting from the length block (exponent 1) back to block j.
    total = len(_blocks(aad)) + len(_blocks(bytes(ct))) + 1
    e = total - (len(_blocks(aad)) + free_block + 1) + 1
    rhs = mask1 ^ mask2 ^ _ghash(h1, aad, bytes(ct)) ^ _ghash(h2, aad, bytes(ct))
    block = _mul(rhs, _inverse(_pow(h1, e) ^ _pow(h2, e)))
    ct[start : start + 16] = block.to_bytes(16, "big")
    tag = mask1 ^ _ghash(h1, aad, bytes(ct))
    return bytes(ct) + tag.to_bytes(16, "big")


def resign(data: bytes, *, signer: SigningKeyPair, **header_changes: Any) -> bytes:
    """Return ``data`` with header fields changed and a fresh direct signature by ``signer``.

    Wraps, nonce, ciphertext and commitment are kept: what someone who cannot decrypt (or
    does not bother to) can do to take the credit for, or re-address, an envelope.
    """
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    header = STORE.decode(HEADER_SCHEMA, outer["header"])
    header.update(header_changes)
    outer["header"] = STORE.encode(HEADER_SCHEMA, header)
    message = tbs(
        header=outer["header"],
        wraps=[(w["agency"], w["key_id"], w["wrapped"]) for w in outer["wraps"]],
        nonce=outer["nonce"],
        ciphertext=outer["ciphertext"],
        commitment=outer["commitment"],
        version=header["format_version"],
    )
    pq = SUITES[header["suite"]].requires_ml_dsa
    outer["signature"] = {
        "ed25519": signer.ed25519.sign(message),
        "ml_dsa_65": signer.ml_dsa_65.sign(message, context=ML_DSA_CONTEXT) if pq else None,
    }
    return STORE.encode(ENVELOPE_SCHEMA, outer)
