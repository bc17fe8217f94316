"""The primitive floor: what one 4 KiB/3-recipient envelope costs in cryptography alone.

Each primitive the envelope format cannot do without is timed alone (process CPU
time, best of :data:`ROUNDS` rounds, on hot data), in the same run as the whole-path
figures, and composed per envelope (:func:`floor_us`):

* publish: AES-256-GCM of the content (with its key object), the key-encapsulation
  share, the signature share (Ed25519, plus ML-DSA-65 for pq-hybrid, once per
  :data:`~broker.devtools.bench.cpu_publish.CHUNK`-envelope batch), three SHA-256 of
  ~4-5 KiB (ciphertext in the signed bytes, header in the wrap info, the envelope for
  the sent log and audit) and the key commitment (HKDF);
* consume: the same with decrypt, one recipient's decapsulation, signature verify.

The KEM share follows the envelope format :mod:`broker.envelope` provides
(:func:`kem_mode`): format 1 wraps each envelope's content key with one HPKE
single-shot seal per recipient; format 2 (batch KEM) seals one batch secret per
recipient per batch and wraps each content key under an HKDF-derived key with
AES-256-GCM, so the HPKE cost is amortised over the batch. Pass ``kem=`` to
:func:`floor_us` to price either.

Example::

    >>> kem_mode() in ("per-envelope", "per-batch")
    True
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import MLKEM768X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from broker.envelope import format as envelope_format

__all__ = ["ROUNDS", "floor_us", "floors", "kem_mode", "primitives_us"]

#: Rounds per primitive; the best (least disturbed) is kept.
ROUNDS = 5
_SIZE = 4096
_RECIPIENTS = 3
_BATCH = 64


def kem_mode() -> str:
    """Return how the current envelope format encapsulates: per envelope, or per batch."""
    return "per-batch" if envelope_format.FORMAT_VERSION >= 2 else "per-envelope"


def _best_us(fn: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


def primitives_us(suite: str, *, quick: bool = False) -> dict[str, float]:
    """Time every primitive of ``suite`` alone; return microseconds per call."""
    n = 40 if quick else 200
    data = os.urandom(_SIZE)
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, data, b"header")
    spec = envelope_format.SUITES[suite]
    if suite == "classic":
        private: Any = x25519.X25519PrivateKey.generate()
    else:
        private = MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate()
        )
    public = private.public_key()
    wrapped = spec.hpke.encrypt(key, public, info=b"info")
    signer = ed25519.Ed25519PrivateKey.generate()
    message = os.urandom(64)
    signature = signer.sign(message)
    out = {
        "aes_gcm_encrypt": _best_us(lambda: AESGCM(key).encrypt(nonce, data, b"header"), n * 5),
        "aes_gcm_decrypt": _best_us(lambda: AESGCM(key).decrypt(nonce, sealed, b"header"), n * 5),
        "aes_gcm_wrap_32": _best_us(lambda: AESGCM(key).encrypt(nonce, key, b"h"), n * 5),
        "sha256_4k": _best_us(lambda: hashlib.sha256(data).digest(), n * 5),
        "hkdf": _best_us(
            lambda: HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"i").derive(key),
            n * 5,
        ),
        "hkdf_expand": _best_us(
            lambda: HKDFExpand(algorithm=hashes.SHA256(), length=32, info=b"i").derive(key),
            n * 5,
        ),
        "hpke_seal": _best_us(lambda: spec.hpke.encrypt(key, public, info=b"info"), n),
        "hpke_open": _best_us(lambda: spec.hpke.decrypt(wrapped, private, info=b"info"), n),
        "ed25519_sign": _best_us(lambda: signer.sign(message), n),
        "ed25519_verify": _best_us(lambda: signer.public_key().verify(signature, message), n),
        "ml_dsa_65_sign": 0.0,
        "ml_dsa_65_verify": 0.0,
    }
    if suite != "classic":
        ml = mldsa.MLDSA65PrivateKey.generate()
        ml_sig = ml.sign(message)
        out["ml_dsa_65_sign"] = _best_us(lambda: ml.sign(message), max(5, n // 10))
        out["ml_dsa_65_verify"] = _best_us(
            lambda: ml.public_key().verify(ml_sig, message), max(5, n // 4)
        )
    return out


def floor_us(
    p: dict[str, float],
    *,
    side: str,
    recipients: int = _RECIPIENTS,
    batch: int = _BATCH,
    kem: str | None = None,
) -> float:
    """Compose the floor of one envelope from primitive timings ``p`` (see the docstring).

    ``side`` is ``publish`` or ``consume``; ``kem`` is ``per-envelope`` or
    ``per-batch`` (default: what the current format does, :func:`kem_mode`).

    >>> p = dict.fromkeys(["aes_gcm_encrypt", "aes_gcm_decrypt", "aes_gcm_wrap_32",
    ...     "sha256_4k", "hkdf", "hkdf_expand", "ed25519_sign", "ed25519_verify",
    ...     "ml_dsa_65_sign", "ml_dsa_65_verify"], 1.0) | {"hpke_seal": 64.0, "hpke_open": 64.0}
    >>> floor_us(p, side="publish", kem="per-envelope")
    197.03125
    >>> floor_us(p, side="publish", kem="per-batch")
    14.03125
    """
    mode = kem or kem_mode()
    if side == "publish":
        if mode == "per-batch":  # one HPKE seal per recipient per batch, one wrap each
            kem_us = recipients * (p["hpke_seal"] / batch + p["hkdf_expand"] + p["aes_gcm_wrap_32"])
        else:
            kem_us = recipients * p["hpke_seal"]
        sign = (p["ed25519_sign"] + p["ml_dsa_65_sign"]) / batch
        return p["aes_gcm_encrypt"] + kem_us + sign + 3 * p["sha256_4k"] + p["hkdf"]
    if mode == "per-batch":  # decapsulated once per batch (cached), one unwrap each
        kem_us = p["hpke_open"] / batch + p["hkdf_expand"] + p["aes_gcm_wrap_32"]
    else:
        kem_us = p["hpke_open"]
    verify = (p["ed25519_verify"] + p["ml_dsa_65_verify"]) / batch
    return p["aes_gcm_decrypt"] + kem_us + verify + 3 * p["sha256_4k"] + p["hkdf"]


def floors(*, quick: bool = False) -> dict[str, Any]:
    """Return ``floor_us_<side>_<classic|pq>`` for both suites, and the primitives behind them."""
    out: dict[str, Any] = {"kem": kem_mode(), "primitives_us": {}}
    for suite, short in (("classic", "classic"), ("pq-hybrid", "pq")):
        p = primitives_us(suite, quick=quick)
        out["primitives_us"][short] = {k: round(v, 2) for k, v in p.items()}
        for side in ("publish", "consume"):
            out[f"floor_us_{side}_{short}"] = floor_us(p, side=side)
    return out
