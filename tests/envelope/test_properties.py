"""Security properties 1-5 of the brief, each as the attack it defeats."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, open_envelope, seal, seal_batch, verify_envelope
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA, INNER_SCHEMA, MAX_LIFETIME
from broker.errors import (
    ConfigError,
    DecryptionError,
    Error,
    ExpiredEnvelopeError,
    KeyRevokedError,
    MalformedEnvelopeError,
    NotARecipientError,
    SignatureError,
    UnknownKeyError,
    UnsupportedSuiteError,
    UnsupportedVersionError,
)
from broker.trust.testing import UnsafeTestFederation
from tests.envelope.conftest import NOW
from tests.envelope.forge import assemble, resign, two_key_gcm_ciphertext

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


def _header_of(data: bytes) -> dict[str, Any]:
    return dict(STORE.decode(HEADER_SCHEMA, STORE.decode(ENVELOPE_SCHEMA, data)["header"]))


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


# One plausible forged value per header field (and per code), chosen to pass every sanity
# check so that the signature is what refuses it; the expected error says which check does.
HEADER_CHANGES: list[tuple[str, Any, type[Error]]] = [
    ("format_version", 1, SignatureError),  # a downgrade to the readable version 1
    ("suite", "pq-hybrid", SignatureError),  # an upgrade claim without the ML-DSA signature
    ("envelope_id", "0" * 32, SignatureError),
    ("sender", "PT-PJ", SignatureError),  # with PT-PJ's own valid key id, see below
    ("sender_key_id", "sig-9999", UnknownKeyError),
    ("recipients", "key id of DE-BKA", MalformedEnvelopeError),  # wraps no longer match
    ("created_at", NOW - dt.timedelta(minutes=1), SignatureError),
    ("expires_at", NOW + dt.timedelta(days=31), SignatureError),
    ("sequence", 8, SignatureError),
    ("kind", "RECEIPT", SignatureError),
    ("payload_fingerprint", b"\x00" * 8, SignatureError),
    ("codes.handling", ["H0"], SignatureError),
    ("codes.h3_restrictions", "none", SignatureError),
    ("codes.tlp", "CLEAR", SignatureError),
    ("codes.pap", "RED", SignatureError),
    ("codes.classification", "UNCLASSIFIED", SignatureError),
    ("codes.evaluation", {"source": "A", "information": "I1"}, SignatureError),
    ("codes.legal_basis", "none", SignatureError),
    ("codes.purpose", "anything", SignatureError),
    ("codes.retention_review", dt.date(2099, 1, 1), SignatureError),
]


def _schema_fields(name: str) -> list[str]:
    path = Path(__file__).parents[2] / "schemas" / f"{name}.avsc"
    return [f["name"] for f in json.loads(path.read_text())["fields"]]


def test_flipped_header_field_test_covers_every_field() -> None:
    covered = {f for f, _, _ in HEADER_CHANGES}
    expected = {f for f in _schema_fields(HEADER_SCHEMA) if f != "codes"}
    expected |= {f"codes.{f}" for f in _schema_fields("eu.fed.Codes")}
    assert covered == expected


@pytest.mark.parametrize(
    ("field", "value", "error"), HEADER_CHANGES, ids=[f for f, _, _ in HEADER_CHANGES]
)
@pytest.mark.parametrize("suite", SUITES)
def test_flipped_header_field_is_rejected(
    fed: UnsafeTestFederation,
    payload: bytes,
    codes: dict[str, Any],
    field: str,
    value: Any,
    error: type[Error],
    suite: str,
) -> None:
    data = _seal(fed, payload, codes, suite=suite)
    header = _header_of(data)
    if field.startswith("codes."):
        header["codes"] = {**header["codes"], field.removeprefix("codes."): value}
    elif field == "recipients":
        other = fed.identity("DE-BKA").signing.key_id  # a real key id, not DE-BKA's wrap key
        header["recipients"] = [
            {**header["recipients"][0], "key_id": other},
            header["recipients"][1],
        ]
    else:
        header[field] = value
    if field == "sender":
        header["sender_key_id"] = fed.identity("PT-PJ").signing.key_id
    if field == "suite" and suite == "pq-hybrid":
        header["suite"] = "classic"  # a downgrade claim carrying an extra signature
    assert header != _header_of(data)
    forged = _rewrite(data, header=STORE.encode(HEADER_SCHEMA, header))
    with pytest.raises(error):
        verify_envelope(forged, trust=fed.trust, now=NOW)
    with pytest.raises(error):
        open_envelope(forged, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW)


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


@pytest.mark.parametrize("suite", SUITES)
def test_resigned_by_recipient_and_forwarded_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    """Davis 2001. DE-BKA, a legitimate recipient, decrypts ES-PN's dossier and re-seals the
    plaintext it received to IT-PS with its own sealer, hoping IT-PS takes it as ES-PN's word
    addressed to IT-PS. DE-BKA knows the plaintext, so it can build any envelope it likes."""
    original = _seal(fed, payload, codes, suite=suite)
    received = open_envelope(original, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW)
    # Exactly what DE-BKA decrypted: the inner record names ES-PN and the original audience.
    inner = STORE.encode(
        INNER_SCHEMA,
        {
            "sender": "ES-PN",
            "recipients": ["DE-BKA", "PT-PJ"],
            "envelope_id": received.header.envelope_id,
            "payload": received.payload,
        },
    )
    de = fed.identity("DE-BKA")
    it_key = fed.trust.encryption_key(agency="IT-PS", at=NOW).key_id
    to_it = {**_header_of(original), "recipients": [{"agency": "IT-PS", "key_id": it_key}]}
    it = fed.identity("IT-PS")

    def forge(**changes: Any) -> bytes:
        return assemble(
            header={**to_it, **changes},
            inner=inner,
            trust=fed.trust,
            signer=de.signing,
            content_key=AESGCM.generate_key(bit_length=256),
        )

    # (a) Keep ES-PN as the header's sender: DE-BKA cannot make ES-PN's signature.
    with pytest.raises(SignatureError):
        open_envelope(forge(), trust=fed.trust, identity=it, now=NOW)
    # (b) Sign as itself, under the original or a fresh envelope id: its signature verifies
    # (a router passes it), but the sender and audience sealed inside betray the forwarding.
    for envelope_id in (received.header.envelope_id, "ab" * 16):
        forwarded = forge(sender="DE-BKA", sender_key_id=de.signing.key_id, envelope_id=envelope_id)
        verify_envelope(forwarded, trust=fed.trust, now=NOW)
        with pytest.raises(SignatureError, match=r"^envelope rejected$") as info:
            open_envelope(forwarded, trust=fed.trust, identity=it, now=NOW)
        assert "re-signed" in info.value.diagnostics()


def test_signature_stripped_and_replaced_by_third_party_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    """The encrypt-then-sign weakness: IT-PS, who cannot read the envelope, swaps ES-PN's
    signature for its own to claim authorship. The header (now naming IT-PS) is the AEAD
    associated data and is hashed into every wrap's HPKE info, so nothing opens."""
    data = _seal(fed, payload, codes)
    it = fed.identity("IT-PS")
    claimed = resign(data, signer=it.signing, sender="IT-PS", sender_key_id=it.signing.key_id)
    verify_envelope(claimed, trust=fed.trust, now=NOW)  # a valid signature by IT-PS ...
    with pytest.raises(DecryptionError):  # ... on something no recipient can open
        open_envelope(claimed, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW)


@pytest.mark.parametrize("suite", SUITES)
def test_key_commitment_mismatch_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    """Invisible salamanders: a malicious sender (ES-PN) crafts ONE AES-GCM ciphertext that
    authenticates under two content keys and wraps key 1 to DE-BKA and key 2 to PT-PJ, so the
    two recipients of one signed envelope would read different plaintexts (and a report by one
    could not be checked by the other). AES-GCM alone accepts both; the signed commitment to
    one key refuses PT-PJ's before decrypting."""
    header = _header_of(_seal(fed, payload, codes, suite=suite))
    header_bytes = STORE.encode(HEADER_SCHEMA, header)
    junk = 48  # the payload's tail, where the free GCM block goes
    inner = STORE.encode(
        INNER_SCHEMA,
        {
            "sender": "ES-PN",
            "recipients": ["DE-BKA", "PT-PJ"],
            "envelope_id": header["envelope_id"],
            "payload": payload + bytes(junk),
        },
    )
    key1, key2 = AESGCM.generate_key(bit_length=256), AESGCM.generate_key(bit_length=256)
    nonce = bytes(range(12))
    ciphertext = two_key_gcm_ciphertext(
        key1=key1,
        key2=key2,
        nonce=nonce,
        aad=header_bytes,
        plaintext1=inner,
        free_block=-(-(len(inner) - junk) // 16),
    )
    # The premise: without a commitment, both recipients would get a plaintext.
    assert AESGCM(key1).decrypt(nonce, ciphertext, header_bytes) != AESGCM(key2).decrypt(
        nonce, ciphertext, header_bytes
    )
    data = assemble(
        header=header,
        inner=inner,
        trust=fed.trust,
        signer=fed.identity("ES-PN").signing,
        content_key=key1,
        wrapped_keys={"PT-PJ": key2},
        nonce=nonce,
        ciphertext=ciphertext,
    )
    verify_envelope(data, trust=fed.trust, now=NOW)  # the sender is the attacker: it signs
    opened = open_envelope(data, trust=fed.trust, identity=fed.identity("DE-BKA"), now=NOW)
    assert opened.payload.startswith(payload)  # key 1 is the committed one
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
    forged = _rewrite_header(_seal(fed, payload, codes), format_version=3)
    with pytest.raises(UnsupportedVersionError) as caught:
        verify_envelope(forged, trust=fed.trust, now=NOW)
    assert caught.value.reason == "unsupported-version"
    assert "format version 3" in caught.value.diagnostics()


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
    assert verifier.cached_batches == 1


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


@pytest.mark.parametrize("suite", SUITES)
def test_batch_signature_bytes_altered_are_rejected_on_a_warm_cache(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any], suite: str
) -> None:
    """A consumer has verified one envelope of a batch (root cached). A sibling arrives with
    its signature bytes altered: the root is genuine, but these bytes do not verify, and an
    auditor re-checking the stored envelope would find a bad signature. Refuse it."""
    reqs = [
        SealRequest(payload=payload, kind="DOSSIER", codes=codes, recipients=["DE-BKA"], sequence=i)
        for i in range(1, 4)
    ]
    batch = seal_batch(reqs, sender=fed.identity("ES-PN"), trust=fed.trust, suite=suite, now=NOW)
    verifier = Verifier(trust=fed.trust)
    verifier.verify(batch[0], now=NOW)
    for field in ("ed25519", "ml_dsa_65") if suite == "pq-hybrid" else ("ed25519",):
        outer = STORE.decode(ENVELOPE_SCHEMA, batch[1])
        sig = bytearray(outer["signature"][field])
        sig[5] ^= 0x40
        outer["signature"][field] = bytes(sig)
        with pytest.raises(SignatureError):
            verifier.verify(STORE.encode(ENVELOPE_SCHEMA, outer), now=NOW)
    verifier.verify(batch[1], now=NOW)
    assert verifier.cached_batches == 1


def test_envelope_living_longer_than_the_replay_window_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    """A sender stretches expires_at so that consumers must remember its id forever."""
    data = resign(
        _seal(fed, payload, codes),
        signer=fed.identity("ES-PN").signing,
        expires_at=NOW + MAX_LIFETIME + dt.timedelta(days=1),
    )
    with pytest.raises(MalformedEnvelopeError):
        verify_envelope(data, trust=fed.trust, now=NOW)
    with pytest.raises(ConfigError):
        _seal(fed, payload, codes, ttl=MAX_LIFETIME + dt.timedelta(days=1))


def test_sequence_below_one_is_rejected(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = resign(_seal(fed, payload, codes), signer=fed.identity("ES-PN").signing, sequence=0)
    with pytest.raises(MalformedEnvelopeError):
        verify_envelope(data, trust=fed.trust, now=NOW)
    with pytest.raises(ConfigError):
        _seal(fed, payload, codes, sequence=0)


def test_naive_clock_is_a_configuration_error(
    fed: UnsafeTestFederation, payload: bytes, codes: dict[str, Any]
) -> None:
    data = _seal(fed, payload, codes)
    with pytest.raises(ConfigError):
        verify_envelope(data, trust=fed.trust, now=NOW.replace(tzinfo=None))
    with pytest.raises(ConfigError):
        _seal(fed, payload, codes, now=NOW.replace(tzinfo=None))
