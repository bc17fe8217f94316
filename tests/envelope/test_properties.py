"""Security properties 1-5 of the brief, each as the attack it defeats."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest

from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, open_envelope, seal, seal_batch, verify_envelope
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA, INNER_SCHEMA
from broker.errors import (
    DecryptionError,
    Error,
    ExpiredEnvelopeError,
    KeyRevokedError,
    MalformedEnvelopeError,
    NotARecipientError,
    SignatureError,
    TrustError,
    UnsupportedSuiteError,
    UnsupportedVersionError,
)
from broker.trust.testing import UnsafeTestFederation
from tests.envelope.conftest import NOW

STORE = SchemaStore.default()
SUITES = ["classic", "pq-hybrid"]


def _seal(fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "kind": "DOSSIER",
        "codes": codes,
        "sender": fed.identity("ES-PN"),
        "recipients": ["DE-BKA", "PT-PJ"],
        "trust": fed.trust,
        "sequence": 7,
        "now": NOW,
    }
    args.update(kw)
    return seal(payload, **args)


def _rewrite(data: bytes, **changes: Any) -> bytes:
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    outer.update(changes)
    return STORE.encode(ENVELOPE_SCHEMA, outer)


def _rewrite_header(data: bytes, **changes: Any) -> bytes:
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    header = STORE.decode(HEADER_SCHEMA, outer["header"])
    header.update(changes)
    outer["header"] = STORE.encode(HEADER_SCHEMA, header)
    return STORE.encode(ENVELOPE_SCHEMA, outer)


@pytest.mark.parametrize("suite", SUITES)
def test_each_named_recipient_opens_and_gets_provenance(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    data = _seal(fed, payload, codes, suite=suite)
    for agency in ("DE-BKA", "PT-PJ"):
        opened = open_envelope(data, trust=fed.trust, identity=fed.identity(agency), now=NOW)
        assert opened.payload == payload
        prov = opened.provenance()
        assert prov["sender"] == "ES-PN" and prov["sequence"] == 7 and prov["suite"] == suite
        assert prov["recipients"] == ["DE-BKA", "PT-PJ"] and prov["recipient"] == agency


@pytest.mark.parametrize("suite", SUITES)
def test_non_recipient_cannot_open(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    data = _seal(fed, payload, codes, suite=suite)
    with pytest.raises(NotARecipientError):
        open_envelope(data, trust=fed.trust, identity=fed.identity("IT-PS"), now=NOW)


def test_one_ciphertext_and_fresh_content_key_per_envelope(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    a = STORE.decode(ENVELOPE_SCHEMA, _seal(fed, payload, codes))
    b = STORE.decode(ENVELOPE_SCHEMA, _seal(fed, payload, codes))
    assert len(a["wraps"]) == 2 and isinstance(a["ciphertext"], bytes)
    assert a["commitment"] != b["commitment"]  # commitment is a function of the content key
    assert a["ciphertext"] != b["ciphertext"]


HEADER_CHANGES: list[tuple[str, Any]] = [
    ("suite", "pq-hybrid"),
    ("envelope_id", "0" * 32),
    ("sender", "PT-PJ"),
    ("sender_key_id", "sig-0003"),
    ("recipients", [{"agency": "DE-BKA", "key_id": "enc-0004"}]),
    ("created_at", NOW - dt.timedelta(minutes=1)),
    ("expires_at", NOW + dt.timedelta(days=400)),
    ("sequence", 8),
    ("kind", "RECEIPT"),
    ("payload_fingerprint", b"\x00" * 8),
    ("codes", "tlp"),
]


@pytest.mark.parametrize(("field", "value"), HEADER_CHANGES, ids=[f for f, _ in HEADER_CHANGES])
def test_flipped_header_field_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], field: str, value: Any
) -> None:
    data = _seal(fed, payload, codes)
    if field == "codes":
        value = {**codes, "tlp": "CLEAR", "handling": ["H0"]}
    forged = _rewrite_header(data, **{field: value})
    for attempt in (
        lambda: verify_envelope(forged, trust=fed.trust, now=NOW),
        lambda: open_envelope(forged, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW),
    ):
        with pytest.raises(Error) as info:
            attempt()
        # Refused by the signature, or earlier by a check on the forged field itself.
        assert isinstance(info.value, (SignatureError, MalformedEnvelopeError, TrustError))


def test_swapped_recipient_list_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes)
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    header = STORE.decode(HEADER_SCHEMA, outer["header"])
    # Replace PT-PJ by IT-PS in both header and wraps (wrap bytes unchanged).
    header["recipients"][1] = {"agency": "IT-PS", "key_id": header["recipients"][1]["key_id"]}
    outer["wraps"][1]["agency"] = "IT-PS"
    outer["header"] = STORE.encode(HEADER_SCHEMA, header)
    with pytest.raises(SignatureError):
        verify_envelope(STORE.encode(ENVELOPE_SCHEMA, outer), trust=fed.trust, now=NOW)


def test_dropped_recipient_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes)
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    header = STORE.decode(HEADER_SCHEMA, outer["header"])
    header["recipients"] = header["recipients"][:1]
    outer["wraps"] = outer["wraps"][:1]
    outer["header"] = STORE.encode(HEADER_SCHEMA, header)
    with pytest.raises(SignatureError):
        verify_envelope(STORE.encode(ENVELOPE_SCHEMA, outer), trust=fed.trust, now=NOW)
    # Dropping only the wrap (header intact) is malformed.
    with pytest.raises(MalformedEnvelopeError):
        verify_envelope(
            _rewrite(data, wraps=STORE.decode(ENVELOPE_SCHEMA, data)["wraps"][:1]),
            trust=fed.trust,
            now=NOW,
        )


def test_wrap_moved_to_other_recipient_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes)
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    w = outer["wraps"]
    w[0]["wrapped"], w[1]["wrapped"] = w[1]["wrapped"], w[0]["wrapped"]
    with pytest.raises(SignatureError):
        verify_envelope(STORE.encode(ENVELOPE_SCHEMA, outer), trust=fed.trust, now=NOW)


def test_resigned_by_recipient_and_forwarded_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    """Davis 2001: DE-BKA decrypts ES-PN's envelope and re-seals the very plaintext to IT-PS,
    signed by itself, hoping IT-PS believes ES-PN addressed it. The inner sender and recipients
    give it away."""
    data = _seal(fed, payload, codes)
    victim = open_envelope(data, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW)
    # Recover the exact inner plaintext DE-BKA saw, and re-encrypt it under a new envelope.
    original_inner = STORE.encode(
        INNER_SCHEMA,
        {
            "sender": "ES-PN",
            "recipients": ["DE-BKA", "PT-PJ"],
            "envelope_id": victim.header.envelope_id,
            "payload": victim.payload,
        },
    )
    sealing = importlib.import_module("broker.envelope.seal")

    real_encode = sealing.SchemaStore.encode

    def forward_inner(self: SchemaStore, name: str, record: dict[str, Any]) -> bytes:
        if name == INNER_SCHEMA:
            return original_inner
        return real_encode(self, name, record)

    sealing.SchemaStore.encode = forward_inner  # type: ignore[method-assign]
    try:
        forwarded = seal(
            victim.payload,
            kind="DOSSIER",
            codes=codes,
            sender=fed.identity("DE-BKA"),
            recipients=["IT-PS"],
            trust=fed.trust,
            sequence=1,
            now=NOW,
        )
    finally:
        sealing.SchemaStore.encode = real_encode  # type: ignore[method-assign]
    verify_envelope(forwarded, trust=fed.trust, now=NOW)  # DE-BKA's own signature is valid
    with pytest.raises(SignatureError, match="rejected") as info:
        open_envelope(forwarded, trust=fed.trust, identity=fed.identity("IT-PS"), now=NOW)
    assert "re-signed" in info.value.diagnostics()


def test_key_commitment_mismatch_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    """A malicious sender wraps a *different* content key to PT-PJ than to DE-BKA, so one
    ciphertext would open to different plaintexts. The commitment binds one key."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealing = importlib.import_module("broker.envelope.seal")

    real_generate = AESGCM.generate_key
    real_encrypt = sealing.SUITES["classic"].hpke.encrypt
    other_key = real_generate(256)

    class TwoFaced:
        def encrypt(self, pt: bytes, pub: Any, info: bytes) -> bytes:
            # Second recipient (PT-PJ) gets another key than the one the content uses.
            return real_encrypt(other_key if b"PT-PJ" in info else pt, pub, info=info)

    spec = sealing.SUITES["classic"]
    sealing.SUITES["classic"] = type(spec)(name="classic", hpke=TwoFaced(), requires_ml_dsa=False)  # type: ignore[arg-type]
    try:
        data = _seal(fed, payload, codes)
    finally:
        sealing.SUITES["classic"] = spec
    open_envelope(data, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW)
    with pytest.raises(DecryptionError) as info:
        open_envelope(data, trust=fed.trust, identity=fed.identity("PT-PJ"), now=NOW)
    assert "commitment" in info.value.diagnostics()


@pytest.mark.parametrize("suite", SUITES)
def test_signature_verifies_without_decrypting(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    verified = verify_envelope(_seal(fed, payload, codes, suite=suite), trust=fed.trust, now=NOW)
    assert verified.sender == "ES-PN"
    assert verified.header.recipient_agencies == ["DE-BKA", "PT-PJ"]


def test_pq_envelope_without_ml_dsa_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes, suite="pq-hybrid")
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    outer["signature"]["ml_dsa_65"] = None
    with pytest.raises(SignatureError):
        verify_envelope(STORE.encode(ENVELOPE_SCHEMA, outer), trust=fed.trust, now=NOW)


def test_pq_envelope_with_broken_ml_dsa_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes, suite="pq-hybrid")
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    sig = bytearray(outer["signature"]["ml_dsa_65"])
    sig[100] ^= 1
    outer["signature"]["ml_dsa_65"] = bytes(sig)
    with pytest.raises(SignatureError):
        verify_envelope(STORE.encode(ENVELOPE_SCHEMA, outer), trust=fed.trust, now=NOW)


def test_unknown_suite_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    forged = _rewrite_header(_seal(fed, payload, codes), suite="rot13")
    with pytest.raises(UnsupportedSuiteError):
        verify_envelope(forged, trust=fed.trust, now=NOW)


def test_unknown_format_version_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    forged = _rewrite_header(_seal(fed, payload, codes), format_version=2)
    with pytest.raises(UnsupportedVersionError):
        verify_envelope(forged, trust=fed.trust, now=NOW)


def test_expired_envelope_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes, ttl=dt.timedelta(hours=1))
    verify_envelope(data, trust=fed.trust, now=NOW + dt.timedelta(minutes=59))
    with pytest.raises(ExpiredEnvelopeError):
        verify_envelope(data, trust=fed.trust, now=NOW + dt.timedelta(minutes=61))


def test_envelope_from_the_future_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes, now=NOW + dt.timedelta(hours=1))
    with pytest.raises(ExpiredEnvelopeError):
        verify_envelope(data, trust=fed.trust, now=NOW)


@pytest.mark.parametrize("suite", SUITES)
def test_batch_envelopes_open_and_share_one_signature_check(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    reqs = [
        SealRequest(payload=payload, kind="DOSSIER", codes=codes, recipients=["DE-BKA"], sequence=i)
        for i in range(1, 6)
    ]
    batch = seal_batch(reqs, sender=fed.identity("ES-PN"), trust=fed.trust, suite=suite, now=NOW)
    verifier = Verifier(trust=fed.trust)
    for i, data in enumerate(batch, start=1):
        opened = verifier.open(data, identity=fed.identity("DE-BKA"), now=NOW)
        assert opened.header.sequence == i
    assert len(verifier._cache) == 1


@pytest.mark.parametrize("what", ["path", "root", "index", "size"])
def test_batch_with_tampered_proof_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], what: str
) -> None:
    reqs = [
        SealRequest(payload=payload, kind="DOSSIER", codes=codes, recipients=["DE-BKA"], sequence=i)
        for i in range(1, 6)
    ]
    data = seal_batch(reqs, sender=fed.identity("ES-PN"), trust=fed.trust, now=NOW)[2]
    outer = STORE.decode(ENVELOPE_SCHEMA, data)
    sig = outer["signature"]
    if what == "path":
        sig["path"][0] = bytes(32)
    elif what == "root":
        sig["batch_root"] = bytes(32)
    elif what == "index":
        sig["leaf_index"] = 3
    else:
        sig["batch_size"] = 6
    with pytest.raises(SignatureError):
        Verifier(trust=fed.trust).verify(STORE.encode(ENVELOPE_SCHEMA, outer), now=NOW)


def test_revoked_sender_key_is_rejected(payload: bytes, codes: dict[str, Any]) -> None:
    fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"], now=NOW)
    data = seal(
        payload,
        kind="DOSSIER",
        codes=codes,
        sender=fed.identity("ES-PN"),
        recipients=["DE-BKA"],
        trust=fed.trust,
        sequence=1,
        now=NOW,
    )
    fed.revoke("ES-PN", fed.identity("ES-PN").signing.key_id)
    with pytest.raises(KeyRevokedError):
        verify_envelope(data, trust=fed.trust, now=NOW)


def test_envelope_sealed_before_rotation_still_opens_after(
    payload: bytes, codes: dict[str, Any]
) -> None:
    fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"], now=NOW)
    old = seal(
        payload,
        kind="DOSSIER",
        codes=codes,
        sender=fed.identity("ES-PN"),
        recipients=["DE-BKA"],
        trust=fed.trust,
        sequence=1,
        now=NOW,
    )
    later = NOW + dt.timedelta(hours=2)
    fed.rotate("ES-PN", at=NOW + dt.timedelta(hours=1))
    fed.rotate("DE-BKA", at=NOW + dt.timedelta(hours=1))
    opened = open_envelope(old, trust=fed.trust, identity=fed.identity("DE-BKA"), now=later)
    assert opened.payload == payload
    new = seal(
        payload,
        kind="DOSSIER",
        codes=codes,
        sender=fed.identity("ES-PN"),
        recipients=["DE-BKA"],
        trust=fed.trust,
        sequence=2,
        now=later,
    )
    assert (
        STORE.decode(HEADER_SCHEMA, STORE.decode(ENVELOPE_SCHEMA, new)["header"])["sender_key_id"]
        == fed.identity("ES-PN").signing.key_id
    )
    open_envelope(new, trust=fed.trust, identity=fed.identity("DE-BKA"), now=later)
