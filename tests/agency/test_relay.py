"""The owner's signed relay copy of a control order: the hub relays it, and cannot alter it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from broker.agency.relay import sign_relay_copy, verify_relay_copy
from broker.codec import SchemaStore
from broker.errors import SignatureError
from broker.trust.testing import UnsafeTestFederation

T0 = dt.datetime.now(dt.UTC)
FED = UnsafeTestFederation.create(agencies=["ES-PN", "EUROPOL"])


def _order(**over: Any) -> dict[str, Any]:
    return {
        "order_id": "a" * 32,
        "action": "RESTRICT",
        "envelope_id": "e" * 32,
        "owner": "ES-PN",
        "holders": ["EUROPOL"],
        "reason": "Regulation (EU) 2016/794 Art. 19(2)",
        "codes": None,
        "deadline": T0 + dt.timedelta(hours=24),
        "at": T0,
        "relay": None,
        **over,
    }


def test_relay_copy_names_no_holder_and_verifies_with_the_owners_key() -> None:
    signed = sign_relay_copy(_order(), identity=FED.identity("ES-PN"))
    order = verify_relay_copy(signed, trust=FED.trust)
    assert order["holders"] == [] and order["owner"] == "ES-PN"
    assert order["order_id"] == "a" * 32 and order["action"] == "RESTRICT"


def test_hub_turning_a_relayed_restriction_into_a_recall_is_refused() -> None:
    store = SchemaStore.default()
    signed = store.decode(
        "eu.fed.SignedControlOrder", sign_relay_copy(_order(), identity=FED.identity("ES-PN"))
    )
    body = store.decode("eu.fed.ControlOrder", signed["body"])
    forged = store.encode(
        "eu.fed.SignedControlOrder",
        {**signed, "body": store.encode("eu.fed.ControlOrder", {**body, "action": "RECALL"})},
    )
    with pytest.raises(SignatureError) as caught:
        verify_relay_copy(forged, trust=FED.trust)
    assert caught.value.reason == "bad-signature"


def test_hub_signing_an_order_in_the_owners_name_is_refused() -> None:
    # The hub signs a relay copy with its own key but names ES-PN as owner and signer.
    store = SchemaStore.default()
    own = store.decode(
        "eu.fed.SignedControlOrder",
        sign_relay_copy(_order(owner="EUROPOL"), identity=FED.identity("EUROPOL")),
    )
    body = store.decode("eu.fed.ControlOrder", own["body"])
    forged = store.encode(
        "eu.fed.SignedControlOrder",
        {
            **own,
            "owner": "ES-PN",
            "key_id": FED.identity("ES-PN").signing.key_id,
            "body": store.encode("eu.fed.ControlOrder", {**body, "owner": "ES-PN"}),
        },
    )
    with pytest.raises(SignatureError) as caught:
        verify_relay_copy(forged, trust=FED.trust)
    assert caught.value.reason == "bad-signature"
