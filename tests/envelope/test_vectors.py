"""Known-answer vectors (tests/vectors/envelope/vectors.json): fixed test keys, exact bytes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from broker.codec import SchemaStore
from broker.envelope import Verifier
from broker.envelope.format import ENVELOPE_SCHEMA, tbs
from broker.errors import SignatureError
from broker.trust.certificates import RootPublicKeys
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

VECTORS = Path(__file__).parents[1] / "vectors" / "envelope" / "vectors.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text())
NOW = dt.datetime.fromisoformat(DOC["now"])


@pytest.fixture(scope="module")
def trust() -> TrustStore:
    root = RootPublicKeys.from_raw({k: bytes.fromhex(v) for k, v in DOC["root_public"].items()})
    return TrustStore.from_signed(
        root=root, certificates=[bytes.fromhex(c) for c in DOC["certificates"]], revocations=[]
    )


@pytest.fixture(scope="module")
def recipient() -> AgencyIdentity:
    r = DOC["recipient"]
    pair = DecryptionKeyPair.from_seeds(
        agency=r["agency"],
        key_id=r["key_id"],
        seeds={k: bytes.fromhex(v) for k, v in r["seeds"].items()},
    )
    dummy = SigningKeyPair.generate(agency=r["agency"], key_id="unused")
    return AgencyIdentity(agency=r["agency"], signing=dummy, decryption={pair.key_id: pair})


@pytest.mark.parametrize("case", DOC["cases"], ids=[c["name"] for c in DOC["cases"]])
def test_vector_opens_to_the_expected_payload(
    case: dict[str, str], trust: TrustStore, recipient: AgencyIdentity
) -> None:
    opened = Verifier(trust=trust).open(
        bytes.fromhex(case["envelope"]), identity=recipient, now=NOW
    )
    assert opened.payload.hex() == DOC["expected_payload"]
    assert opened.header.sender == "ES-PN"
    assert opened.header.suite == case["name"].rsplit("-", 1)[0]
    if case["name"].endswith("direct"):
        assert opened.header.sequence == 42
        assert opened.header.envelope_id == "00112233445566778899aabbccddeeff"


@pytest.mark.parametrize(
    "case", [c for c in DOC["cases"] if c["name"].endswith("direct")], ids=lambda c: c["name"]
)
def test_vector_ed25519_signature_is_the_deterministic_one(case: dict[str, str]) -> None:
    outer = SchemaStore.default().decode(ENVELOPE_SCHEMA, bytes.fromhex(case["envelope"]))
    message = tbs(
        header=outer["header"],
        wraps=[(w["agency"], w["key_id"], w["wrapped"]) for w in outer["wraps"]],
        nonce=outer["nonce"],
        ciphertext=outer["ciphertext"],
        commitment=outer["commitment"],
    )
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["sender_ed25519_seed"]))
    # Ed25519 (RFC 8032) is deterministic: the same key and TBS bytes give the same signature,
    # so an implementation in another language can check its framing byte for byte.
    assert key.sign(message) == outer["signature"]["ed25519"]


def test_vector_with_one_flipped_ciphertext_byte_is_rejected(
    trust: TrustStore, recipient: AgencyIdentity
) -> None:
    store = SchemaStore.default()
    outer = store.decode(ENVELOPE_SCHEMA, bytes.fromhex(DOC["cases"][0]["envelope"]))
    ct = bytearray(outer["ciphertext"])
    ct[0] ^= 1
    outer["ciphertext"] = bytes(ct)
    with pytest.raises(SignatureError):
        Verifier(trust=trust).open(
            store.encode(ENVELOPE_SCHEMA, outer), identity=recipient, now=NOW
        )
