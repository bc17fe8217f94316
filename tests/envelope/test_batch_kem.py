"""Format version 2 batch KEM: each attack on the shared batch secret, and what it buys.

One HPKE encapsulation per recipient key per batch, a per-envelope derived wrap key,
and a recipient-side cache of decapsulated batch secrets that must never change a
verdict (docs/security.md, "Batch KEM").
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, seal, seal_batch
from broker.envelope.format import (
    ENV_WRAP_NONCE,
    ENVELOPE_SCHEMA,
    SUITES,
    batch_wrap_info,
    commitment,
    wrap_key,
)
from broker.errors import ConfigError, DecryptionError, NotARecipientError, SignatureError
from broker.trust.testing import UnsafeTestFederation
from tests.envelope.conftest import NOW
from tests.envelope.forge import resign

STORE = SchemaStore.default()


def _batch(
    fed: UnsafeTestFederation,
    payload: bytes,
    codes: dict[str, Any],
    recipients: list[list[str]],
    *,
    sender: str = "ES-PN",
    suite: str = "classic",
) -> list[bytes]:
    reqs = [
        SealRequest(payload=payload, kind="DOSSIER", codes=codes, recipients=names, sequence=i)
        for i, names in enumerate(recipients, start=1)
    ]
    return seal_batch(reqs, sender=fed.identity(sender), trust=fed.trust, suite=suite, now=NOW)


def _wrapped(data: bytes, agency: str) -> bytes:
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    wrapped: bytes = next(w["wrapped"] for w in outer["wraps"] if w["agency"] == agency)
    return wrapped


def _with_wrap(
    data: bytes, agency: str, wrapped: bytes, *, signer: str, fed: UnsafeTestFederation
) -> bytes:
    """Replace ``agency``'s key wrap and re-sign as ``signer`` (a sender forging its own)."""
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    for w in outer["wraps"]:
        if w["agency"] == agency:
            w["wrapped"] = wrapped
    changed = STORE.encode(ENVELOPE_SCHEMA, outer)
    return resign(changed, signer=fed.identity(signer).signing)


@pytest.mark.parametrize("suite", ["classic", "pq-hybrid"])
def test_one_decapsulation_per_recipient_per_batch(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    names = ["DE-BKA", "EUROPOL", "PT-PJ"]
    batch = _batch(fed, payload, codes, [names] * 6, suite=suite)
    bw_len = SUITES[suite].batch_wrap_bytes
    for agency in names:
        verifier = Verifier(trust=fed.trust)
        for data in batch:
            assert verifier.open(data, identity=fed.identity(agency), now=NOW).payload == payload
        assert verifier.cached_batch_secrets == 1
        # Every envelope carries the same batch wrap for this recipient, and its own env wrap.
        wraps = [_wrapped(data, agency) for data in batch]
        assert len({w[:bw_len] for w in wraps}) == 1 and len({w[bw_len:] for w in wraps}) == 6
    # A fresh secret per recipient key: no two recipients share a batch wrap.
    assert len({_wrapped(batch[0], a)[:bw_len] for a in names}) == 3


def test_single_seal_is_a_batch_of_one_and_is_not_cached(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    common: dict[str, Any] = {"kind": "DOSSIER", "codes": codes, "sender": fed.identity("ES-PN")}
    data = seal(payload, **common, recipients=["DE-BKA"], trust=fed.trust, sequence=1, now=NOW)
    verifier = Verifier(trust=fed.trust)
    assert verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW).payload == payload
    assert verifier.cached_batch_secrets == 0  # nothing else can reuse it
    assert len(_wrapped(data, "DE-BKA")) == SUITES["classic"].batch_wrap_bytes + 48


def test_tampered_env_wrap_is_refused_on_a_warm_cache(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    batch = _batch(fed, payload, codes, [["DE-BKA"]] * 3)
    verifier = Verifier(trust=fed.trust)
    de = fed.identity("DE-BKA")
    verifier.open(batch[0], identity=de, now=NOW)
    assert verifier.cached_batch_secrets == 1
    wrapped = bytearray(_wrapped(batch[1], "DE-BKA"))
    wrapped[-1] ^= 1
    # Anyone on the path: the signature (over the batch) refuses the altered wrap.
    outer = STORE.decode(ENVELOPE_SCHEMA, batch[1])
    outer["wraps"][0]["wrapped"] = bytes(wrapped)
    with pytest.raises(SignatureError):
        verifier.open(STORE.encode(ENVELOPE_SCHEMA, outer), identity=de, now=NOW)
    # The sender itself re-signing it: the cached secret opens nothing but the real wrap.
    forged = _with_wrap(batch[1], "DE-BKA", bytes(wrapped), signer="ES-PN", fed=fed)
    with pytest.raises(DecryptionError) as caught:
        verifier.open(forged, identity=de, now=NOW)
    assert "envelope wrap does not open" in caught.value.diagnostics()
    # A tampered batch wrap misses the cache and fails in HPKE Open itself.
    wrapped = bytearray(_wrapped(batch[1], "DE-BKA"))
    wrapped[40] ^= 1
    forged = _with_wrap(batch[1], "DE-BKA", bytes(wrapped), signer="ES-PN", fed=fed)
    with pytest.raises(DecryptionError) as caught:
        verifier.open(forged, identity=de, now=NOW)
    assert "batch wrap does not open" in caught.value.diagnostics()
    # A truncated wrap is refused before any cryptography.
    forged = _with_wrap(batch[1], "DE-BKA", bytes(wrapped[:-1]), signer="ES-PN", fed=fed)
    with pytest.raises(DecryptionError):
        verifier.open(forged, identity=de, now=NOW)
    # And the untouched envelope still opens (the cache holds only what Open returned).
    assert verifier.open(batch[1], identity=de, now=NOW).payload == payload


def test_recipient_cannot_open_an_envelope_of_its_batch_addressed_only_to_another(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    # Envelope 0 goes to DE-BKA and PT-PJ, envelope 1 to PT-PJ only, in one batch.
    batch = _batch(fed, payload, codes, [["DE-BKA", "PT-PJ"], ["PT-PJ"]])
    de = fed.identity("DE-BKA")
    verifier = Verifier(trust=fed.trust)
    verifier.open(batch[0], identity=de, now=NOW)  # DE-BKA's batch secret is now cached
    with pytest.raises(NotARecipientError):
        verifier.open(batch[1], identity=de, now=NOW)
    # Even with its own batch secret in hand, DE-BKA derives no key for PT-PJ's wrap:
    # the secrets are per recipient key, never shared.
    spec, n = SUITES["classic"], SUITES["classic"].batch_wrap_bytes
    de_pair = next(iter(de.decryption.values()))
    de_wrap = _wrapped(batch[0], "DE-BKA")
    info = batch_wrap_info(
        suite="classic",
        sender="ES-PN",
        sender_key_id=fed.identity("ES-PN").signing.key_id,
        agency="DE-BKA",
        key_id=de_pair.key_id,
    )
    de_secret = spec.hpke.decrypt(de_wrap[:n], de_pair.x25519, info=info)
    pt_wrap = _wrapped(batch[1], "PT-PJ")
    assert pt_wrap[:n] != de_wrap[:n]
    pt_key_id = next(iter(fed.identity("PT-PJ").decryption))
    header = STORE.decode(ENVELOPE_SCHEMA, batch[1])["header"]
    eid = verifier.verify(batch[1], now=NOW).header.envelope_id
    guessed = wrap_key(
        de_secret,
        agency="PT-PJ",
        key_id=pt_key_id,
        envelope_id=eid,
        header=header,
        batch_wrap=pt_wrap[:n],
    )
    with pytest.raises(InvalidTag):
        AESGCM(guessed).decrypt(ENV_WRAP_NONCE, pt_wrap[n:], None)
    with pytest.raises((InvalidTag, ValueError)):  # nor does DE-BKA's key open PT-PJ's batch wrap
        spec.hpke.decrypt(pt_wrap[:n], de_pair.x25519, info=info)


def test_batch_wrap_substituted_into_another_senders_envelope_is_refused(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    honest = _batch(fed, payload, codes, [["DE-BKA"]] * 2)
    de = fed.identity("DE-BKA")
    verifier = Verifier(trust=fed.trust)
    verifier.open(honest[0], identity=de, now=NOW)  # warm: ES-PN's secret for DE-BKA
    n = SUITES["classic"].batch_wrap_bytes
    stolen = _wrapped(honest[0], "DE-BKA")[:n]
    # IT-PS, a member, seals to DE-BKA and splices ES-PN's batch wrap into its own envelope.
    own = _batch(fed, payload, codes, [["DE-BKA"]] * 2, sender="IT-PS")[0]
    spliced = stolen + _wrapped(own, "DE-BKA")[n:]
    forged = _with_wrap(own, "DE-BKA", spliced, signer="IT-PS", fed=fed)
    with pytest.raises(DecryptionError) as caught:
        verifier.open(forged, identity=de, now=NOW)
    # The HPKE info names the sender: a cache miss, and Open fails on the sender binding.
    assert "batch wrap does not open" in caught.value.diagnostics()
    # The same sender moving a batch wrap between its own batches: the wrap key binds it.
    other = _batch(fed, payload, codes, [["DE-BKA"]] * 2)[0]
    moved = _with_wrap(
        other, "DE-BKA", stolen + _wrapped(other, "DE-BKA")[n:], signer="ES-PN", fed=fed
    )
    with pytest.raises(DecryptionError) as caught:
        verifier.open(moved, identity=de, now=NOW)
    assert "envelope wrap does not open" in caught.value.diagnostics()


def test_mixed_recipient_sets_in_one_batch(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    sets = [["DE-BKA"], ["DE-BKA", "PT-PJ"], ["EUROPOL", "PT-PJ"], ["IT-PS"], ["DE-BKA"]]
    batch = _batch(fed, payload, codes, sets, suite="pq-hybrid")
    for agency in ("DE-BKA", "PT-PJ", "EUROPOL", "IT-PS", "ES-PN"):
        verifier = Verifier(trust=fed.trust)
        opened = 0
        for data, names in zip(batch, sets, strict=True):
            if agency in names:
                assert verifier.open(data, identity=fed.identity(agency), now=NOW).payload
                opened += 1
            else:
                with pytest.raises(NotARecipientError):
                    verifier.open(data, identity=fed.identity(agency), now=NOW)
        assert opened == sum(agency in s for s in sets)
        assert verifier.cached_batch_secrets == (1 if opened else 0)


def test_batch_secret_cache_is_bounded(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    verifier = Verifier(trust=fed.trust, kem_cache_size=2)
    for _ in range(3):
        for data in _batch(fed, payload, codes, [["DE-BKA"]] * 2):
            verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW)
    assert verifier.cached_batch_secrets == 2
    with pytest.raises(ConfigError):
        Verifier(trust=fed.trust, kem_cache_size=-1)


def test_content_key_chosen_by_the_caller_seals_and_opens(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    key = AESGCM.generate_key(bit_length=256)
    common: dict[str, Any] = {"kind": "DOSSIER", "codes": codes, "sender": fed.identity("ES-PN")}
    data = seal(
        payload,
        **common,
        recipients=["DE-BKA"],
        trust=fed.trust,
        sequence=1,
        now=NOW,
        content_key=key,
    )
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    eid = Verifier(trust=fed.trust).verify(data, now=NOW).header.envelope_id
    assert outer["commitment"] == commitment(key, eid)
    assert AESGCM(key).decrypt(outer["nonce"], outer["ciphertext"], outer["header"])
    req = SealRequest(
        payload=payload,
        kind="DOSSIER",
        codes=codes,
        recipients=["DE-BKA"],
        sequence=1,
        content_key=key,
    )
    assert key.hex() not in repr(req)
    with pytest.raises(ConfigError):
        SealRequest(
            payload=payload,
            kind="DOSSIER",
            codes=codes,
            recipients=["DE-BKA"],
            sequence=1,
            content_key=key[:31],
        )


def test_content_key_or_envelope_id_reused_within_a_batch_is_refused(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    base: dict[str, Any] = {
        "payload": payload,
        "kind": "DOSSIER",
        "codes": codes,
        "recipients": ["DE-BKA"],
    }
    key = bytes(range(32))
    same_key = [SealRequest(**base, sequence=i, content_key=key) for i in (1, 2)]
    same_id = [SealRequest(**base, sequence=i, envelope_id="a" * 32) for i in (1, 2)]
    for reqs in (same_key, same_id):
        with pytest.raises(ConfigError):
            seal_batch(reqs, sender=fed.identity("ES-PN"), trust=fed.trust, now=NOW)
