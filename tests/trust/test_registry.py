"""Federation trust: each way a key can be untrustworthy is refused with its own error."""

from __future__ import annotations

import datetime as dt

import pytest

from broker.codec import SchemaStore
from broker.errors import (
    CertificateError,
    KeyExpiredError,
    KeyNotYetValidError,
    KeyRevokedError,
    UnknownAgencyError,
    UnknownKeyError,
    WrongKeyUsageError,
)
from broker.trust.certificates import FederationRoot, verify_certificate, verify_revocation
from broker.trust.registry import TrustStore
from broker.trust.testing import UnsafeTestFederation

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def fed() -> UnsafeTestFederation:
    return UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"], now=NOW)


def test_valid_signing_key_is_returned(fed: UnsafeTestFederation) -> None:
    ident = fed.identity("ES-PN")
    keys = fed.trust.signing_key(agency="ES-PN", key_id=ident.signing.key_id, at=NOW)
    assert keys.ed25519.public_bytes_raw() == ident.signing.public().ed25519.public_bytes_raw()


def test_unknown_agency_is_rejected(fed: UnsafeTestFederation) -> None:
    with pytest.raises(UnknownAgencyError):
        fed.trust.signing_key(agency="XX-FAKE", key_id="sig-0001", at=NOW)


def test_unknown_key_id_is_rejected(fed: UnsafeTestFederation) -> None:
    with pytest.raises(UnknownKeyError):
        fed.trust.signing_key(agency="ES-PN", key_id="sig-9999", at=NOW)


def test_encryption_key_used_for_signing_is_rejected(fed: UnsafeTestFederation) -> None:
    enc_id = next(iter(fed.identity("ES-PN").decryption))
    with pytest.raises(WrongKeyUsageError):
        fed.trust.signing_key(agency="ES-PN", key_id=enc_id, at=NOW)


def test_signing_key_used_for_encryption_is_rejected(fed: UnsafeTestFederation) -> None:
    sig_id = fed.identity("ES-PN").signing.key_id
    with pytest.raises(WrongKeyUsageError):
        fed.trust.encryption_key(agency="ES-PN", key_id=sig_id, at=NOW)


def test_expired_key_is_rejected(fed: UnsafeTestFederation) -> None:
    sig_id = fed.identity("ES-PN").signing.key_id
    with pytest.raises(KeyExpiredError):
        fed.trust.signing_key(agency="ES-PN", key_id=sig_id, at=NOW + dt.timedelta(days=400))


def test_not_yet_valid_key_is_rejected(fed: UnsafeTestFederation) -> None:
    sig_id = fed.identity("ES-PN").signing.key_id
    with pytest.raises(KeyNotYetValidError):
        fed.trust.signing_key(agency="ES-PN", key_id=sig_id, at=NOW - dt.timedelta(days=30))


def test_revoked_signing_key_is_rejected_even_for_backdated_envelope(
    fed: UnsafeTestFederation,
) -> None:
    sig_id = fed.identity("ES-PN").signing.key_id
    fed.revoke("ES-PN", sig_id, at=NOW)
    # A thief holding the key claims the envelope was made before the revocation.
    with pytest.raises(KeyRevokedError):
        fed.trust.signing_key(agency="ES-PN", key_id=sig_id, at=NOW - dt.timedelta(hours=12))


def test_rotation_keeps_old_key_verifiable_at_old_time_and_new_key_current(
    fed: UnsafeTestFederation,
) -> None:
    old = fed.identity("ES-PN")
    rotated_at = NOW + dt.timedelta(days=10)
    new = fed.rotate("ES-PN", at=rotated_at)
    before = rotated_at - dt.timedelta(hours=1)
    after = rotated_at + dt.timedelta(hours=1)
    fed.trust.signing_key(agency="ES-PN", key_id=old.signing.key_id, at=before)
    with pytest.raises(KeyExpiredError):
        fed.trust.signing_key(agency="ES-PN", key_id=old.signing.key_id, at=after)
    assert fed.trust.current_signing_key_id("ES-PN", at=after) == new.signing.key_id
    assert fed.trust.encryption_key(agency="ES-PN", at=after).key_id in new.decryption
    # The new identity still holds the old decryption key (retention).
    assert set(old.decryption) <= set(new.decryption)


def test_certificate_signed_by_other_root_is_rejected(fed: UnsafeTestFederation) -> None:
    rogue = FederationRoot.generate()
    with pytest.raises(CertificateError):
        verify_certificate(fed.certificates[0], root=rogue.public())


@pytest.mark.parametrize("field", ["body", "ed25519", "ml_dsa_65", "type"])
def test_tampered_certificate_is_rejected(fed: UnsafeTestFederation, field: str) -> None:
    store = SchemaStore.default()
    signed = store.decode("eu.fed.trust.SignedStatement", fed.certificates[0])
    if field == "type":
        signed["type"] = "fed-revocation-v1"
    else:
        value = bytearray(signed[field])
        value[len(value) // 2] ^= 0x01
        signed[field] = bytes(value)
    data = store.encode("eu.fed.trust.SignedStatement", signed)
    with pytest.raises(CertificateError):
        verify_certificate(data, root=fed.root.public())


def test_certificate_missing_ml_dsa_signature_is_rejected(fed: UnsafeTestFederation) -> None:
    store = SchemaStore.default()
    signed = store.decode("eu.fed.trust.SignedStatement", fed.certificates[0])
    signed["ml_dsa_65"] = b""
    with pytest.raises(CertificateError):
        verify_certificate(
            store.encode("eu.fed.trust.SignedStatement", signed), root=fed.root.public()
        )


def test_tampered_revocation_is_rejected_and_store_refuses_to_load(
    fed: UnsafeTestFederation,
) -> None:
    fed.revoke("ES-PN", fed.identity("ES-PN").signing.key_id)
    store = SchemaStore.default()
    signed = store.decode("eu.fed.trust.SignedStatement", fed.revocations[-1])
    body = bytearray(signed["body"])
    body[-3] ^= 0x40
    signed["body"] = bytes(body)
    forged = store.encode("eu.fed.trust.SignedStatement", signed)
    with pytest.raises(CertificateError):
        verify_revocation(forged, root=fed.root.public())
    with pytest.raises(CertificateError):
        TrustStore.from_signed(
            root=fed.root.public(), certificates=fed.certificates, revocations=[forged]
        )


def test_certificate_presented_as_revocation_is_rejected(fed: UnsafeTestFederation) -> None:
    with pytest.raises(CertificateError):
        verify_revocation(fed.certificates[0], root=fed.root.public())


def test_agency_profile_is_precomputed_and_a_caller_cannot_corrupt_it(
    fed: UnsafeTestFederation,
) -> None:
    profile = fed.trust.require_agency("ES-PN")
    assert {c.usage for c in profile.certificates} == {"SIGN", "ENCRYPT"}
    dates = [c.not_before for c in profile.certificates]
    assert dates == sorted(dates, reverse=True)  # newest first
    profile.certificates.clear()  # the caller's copy only
    key = fed.trust.encryption_key(agency="ES-PN", at=fed.now)
    assert key.agency == "ES-PN"
    assert len(fed.trust.require_agency("ES-PN").certificates) == len(dates)
