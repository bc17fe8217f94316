"""Key files, plain and passphrase-sealed, against tests/vectors/spec/keyfiles.json.

docs/key-files.md specifies the format; these tests check the code writes exactly the
vector's bytes (given its salt and nonce) and reads them back to the same keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from broker.errors import ConfigError
from broker.trust import keystore
from broker.trust.keys import DecryptionKeyPair, SigningKeyPair

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "spec" / "keyfiles.json").read_text()
)
PLAIN, SEALED = VECTORS["plain"], VECTORS["sealed"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "k.key"
    path.write_text(text)
    return path


def test_plain_key_file_reads_to_the_vector_keys(tmp_path: Path) -> None:
    doc, seeds = keystore.load_key(_write(tmp_path, PLAIN["file"]), None)
    pair = SigningKeyPair.from_seeds(agency=doc["agency"], key_id=doc["key_id"], seeds=seeds)
    assert {k: v.hex() for k, v in pair.public().raw().items()} == PLAIN["public_keys"]


def test_sealed_key_file_layout_matches_the_vector() -> None:
    salt, nonce = bytes.fromhex(SEALED["salt"]), bytes.fromhex(SEALED["nonce"])
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(SEALED["passphrase"].encode())
    assert key.hex() == SEALED["scrypt_key"]
    doc = json.loads(SEALED["file"])
    aad = f"{doc['agency']}\n{doc['key_id']}\n{doc['usage']}".encode()
    assert aad.hex() == SEALED["aad"]
    ct = AESGCM(key).encrypt(nonce, SEALED["plaintext"].encode(), aad)
    assert keystore.b64(ct) == doc["sealed"]["ct"]
    assert doc["sealed"]["kdf"] == "scrypt-2^15-8-1"


def test_sealed_key_file_opens_to_the_pq_hybrid_components(tmp_path: Path) -> None:
    # Stored as the 64-byte ML-KEM-768 seed d||z plus a separate X25519 key, not an X-Wing seed.
    doc, seeds = keystore.load_key(_write(tmp_path, SEALED["file"]), SEALED["passphrase"])
    assert {k: v.hex() for k, v in seeds.items()} == SEALED["seeds"]
    assert [len(seeds[k]) for k in ("x25519", "ml-kem-768", "ml-kem-768-x25519.x25519")] == [
        32,
        64,
        32,
    ]
    pair = DecryptionKeyPair.from_seeds(agency=doc["agency"], key_id=doc["key_id"], seeds=seeds)
    raw = pair.public().raw()
    assert raw["x25519"].hex() == SEALED["public_keys"]["x25519"]
    assert (
        raw["ml-kem-768-x25519.x25519"].hex() == SEALED["public_keys"]["ml-kem-768-x25519.x25519"]
    )


def test_key_file_with_a_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wrong passphrase"):
        keystore.load_key(_write(tmp_path, SEALED["file"]), "not the passphrase")


@pytest.mark.parametrize("which", ["plain", "sealed"])
def test_save_key_writes_the_vector_bytes(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = VECTORS[which]
    doc = json.loads(case["file"])
    if which == "sealed":
        salt_nonce = iter([bytes.fromhex(SEALED["salt"]), bytes.fromhex(SEALED["nonce"])])
        monkeypatch.setattr("broker.trust.keystore.secrets.token_bytes", lambda n: next(salt_nonce))
        seeds = {k: bytes.fromhex(v) for k, v in SEALED["seeds"].items()}
    else:
        seeds = {k: keystore._unb64(v) for k, v in doc["seeds"].items()}
    path = tmp_path / "out.key"
    keystore.save_key(
        path,
        agency=doc["agency"],
        key_id=doc["key_id"],
        usage=doc["usage"],
        seeds=seeds,
        passphrase=SEALED["passphrase"] if which == "sealed" else None,
    )
    assert path.read_text() == case["file"]
