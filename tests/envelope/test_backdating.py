"""A retired signing key cannot mint new envelopes by back-dating (red-team finding F10)."""

from __future__ import annotations

import datetime as dt

import pytest

from broker.config import Settings
from broker.envelope import DEFAULT_KEY_GRACE, DEFAULT_TTL, Verifier, seal
from broker.errors import KeyExpiredError, KeyRevokedError, StaleEnvelopeError
from broker.router import EnvelopeCheck
from broker.synthetic import example_dossier
from broker.trust import AgencyIdentity
from broker.trust.testing import UnsafeTestFederation

NOW = dt.datetime.now(dt.UTC)


def _federation_rotated(at: dt.datetime) -> tuple[UnsafeTestFederation, AgencyIdentity]:
    fed = UnsafeTestFederation.create(
        agencies=["ES-PN", "DE-BKA"], now=NOW - dt.timedelta(days=120)
    )
    retired = fed.identity("ES-PN")
    fed.rotate("ES-PN", at=at)
    return fed, retired


def _sealed(
    fed: UnsafeTestFederation,
    sender: AgencyIdentity,
    *,
    created: dt.datetime,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> bytes:
    """A dossier from ``sender`` to DE-BKA, created at ``created``."""
    dossier = example_dossier(7)
    return seal(
        dossier.to_bytes(),
        kind="DOSSIER",
        codes=dossier.codes.to_avro(),
        sender=sender,
        recipients=["DE-BKA"],
        trust=fed.trust,
        sequence=1,
        now=created,
        ttl=ttl,
    )


def test_envelope_back_dated_with_a_rotated_out_key_is_refused_by_router_and_consumer() -> None:
    # ES-PN's key was rotated out 90 days ago; a thief holding it seals a NEW dossier
    # dated the day before the rotation, valid for 30 more days.
    rotation = NOW - dt.timedelta(days=90)
    fed, retired = _federation_rotated(rotation)
    created = rotation - dt.timedelta(days=1)
    forged = _sealed(fed, retired, created=created, ttl=NOW + dt.timedelta(days=30) - created)
    # The router, first trusted observer, refuses it as stale.
    with pytest.raises(StaleEnvelopeError) as at_router:
        EnvelopeCheck(trust=fed.trust)(forged, outbox_owner="ES-PN")
    assert at_router.value.reason == "stale"
    # The consumer judges the key at receive time: retired longer ago than the grace.
    consumer = Verifier(trust=fed.trust, key_grace=DEFAULT_KEY_GRACE)
    with pytest.raises(KeyExpiredError) as at_consumer:
        consumer.open(forged, identity=fed.identity("DE-BKA"))
    assert at_consumer.value.reason == "key-expired"
    assert "superseded" in at_consumer.value.message


def test_envelope_signed_just_before_a_rotation_is_still_accepted() -> None:
    # Signed with the old key an hour before it was rotated out, two hours ago: in transit.
    rotation = NOW - dt.timedelta(hours=2)
    fed, retired = _federation_rotated(rotation)
    honest = _sealed(fed, retired, created=rotation - dt.timedelta(hours=1))
    assert EnvelopeCheck(trust=fed.trust)(honest, outbox_owner="ES-PN").sender == "ES-PN"
    consumer = Verifier(trust=fed.trust, key_grace=DEFAULT_KEY_GRACE)
    assert consumer.open(honest, identity=fed.identity("DE-BKA")).header.sender == "ES-PN"


def test_envelope_older_than_a_short_configured_max_transit_is_refused_as_stale() -> None:
    # A deployment narrows the window (BROKER_MAX_TRANSIT_HOURS=2): an envelope sealed
    # three hours ago with a valid key is refused by the router, accepted under the default.
    fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"], now=NOW - dt.timedelta(days=1))
    envelope = _sealed(fed, fed.identity("ES-PN"), created=NOW - dt.timedelta(hours=3))
    short = Settings(max_transit_hours=2)
    with pytest.raises(StaleEnvelopeError) as refused:
        EnvelopeCheck(trust=fed.trust, max_transit=short.max_transit)(
            envelope, outbox_owner="ES-PN"
        )
    assert refused.value.reason == "stale"
    default = Settings().max_transit
    assert EnvelopeCheck(trust=fed.trust, max_transit=default)(envelope, outbox_owner="ES-PN")


def test_key_retired_longer_ago_than_a_short_configured_grace_is_refused_by_the_consumer() -> None:
    # Sealed 3 days ago, the key rotated out 2 days ago: inside the 7-day default grace,
    # outside a configured one of 1 day (BROKER_KEY_GRACE_DAYS=1).
    rotation = NOW - dt.timedelta(days=2)
    fed, retired = _federation_rotated(rotation)
    envelope = _sealed(fed, retired, created=rotation - dt.timedelta(days=1))
    me = fed.identity("DE-BKA")
    short = Verifier(trust=fed.trust, key_grace=Settings(key_grace_days=1).key_grace)
    with pytest.raises(KeyExpiredError) as refused:
        short.open(envelope, identity=me)
    assert refused.value.reason == "key-expired"
    default = Verifier(trust=fed.trust, key_grace=Settings().key_grace)
    assert default.open(envelope, identity=me).header.sender == "ES-PN"


def _to_rotated_recipient(
    rotation: dt.datetime, *, created: dt.datetime
) -> tuple[bytes, UnsafeTestFederation]:
    """ES-PN seals to DE-BKA's key at ``created``; DE-BKA rotates its keys at ``rotation``."""
    fed = UnsafeTestFederation.create(
        agencies=["ES-PN", "DE-BKA"], now=NOW - dt.timedelta(days=120)
    )
    value = _sealed(fed, fed.identity("ES-PN"), created=created)
    fed.rotate("DE-BKA", at=rotation)
    return value, fed


def test_envelope_sealed_to_a_recipient_key_rotated_while_in_transit_is_routed() -> None:
    # Sealed to DE-BKA's encryption key an hour before DE-BKA's epoch rotation, routed
    # after it: routed (the holder keeps the retired key until drained past the transit
    # window), where the router used to refuse it key-expired, dropping what was in flight.
    rotation = NOW - dt.timedelta(minutes=30)
    value, fed = _to_rotated_recipient(rotation, created=rotation - dt.timedelta(hours=1))
    assert EnvelopeCheck(trust=fed.trust)(value, outbox_owner="ES-PN").recipients == ["DE-BKA"]


def test_envelope_sealed_to_a_recipient_key_already_retired_is_refused_by_the_router() -> None:
    # Attack: a sender (or a thief of its key) seals to DE-BKA's key retired 10 days before,
    # perhaps one already shredded or stolen: refused, the key was not current when sealed.
    rotation = NOW - dt.timedelta(days=10)
    value, fed = _to_rotated_recipient(rotation, created=NOW - dt.timedelta(minutes=5))
    with pytest.raises(KeyExpiredError) as refused:
        EnvelopeCheck(trust=fed.trust)(value, outbox_owner="ES-PN")
    assert refused.value.reason == "key-expired"


def test_envelope_sealed_to_a_recipient_key_compromised_later_is_refused_by_the_router() -> None:
    # A compromised (not rotated) recipient key is refused whenever the envelope was sealed.
    fed = UnsafeTestFederation.create(
        agencies=["ES-PN", "DE-BKA"], now=NOW - dt.timedelta(days=120)
    )
    value = _sealed(fed, fed.identity("ES-PN"), created=NOW - dt.timedelta(hours=1))
    (key_id,) = fed.identity("DE-BKA").decryption
    fed.revoke("DE-BKA", key_id, at=NOW - dt.timedelta(minutes=10))
    with pytest.raises(KeyRevokedError) as refused:
        EnvelopeCheck(trust=fed.trust)(value, outbox_owner="ES-PN")
    assert refused.value.reason == "key-revoked"
