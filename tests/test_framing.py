"""frame() and every domain-separation tag and ML-DSA context, against tests/vectors/spec.

The vectors are what docs/envelope-format.md section 1 specifies for an independent
implementation; these tests check that the code reproduces them and that no tag or
context used in the source is missing from them (so the spec cannot silently fall behind).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from broker._internal.framing import frame
from broker.trust.certificates import RootPublicKeys, verify_certificate

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "spec" / "framing.json").read_text()
)
BROKER = Path(__file__).resolve().parents[1] / "broker"


@pytest.mark.parametrize("case", VECTORS["examples"], ids=lambda c: c["tag"])
def test_frame_of_every_tag_matches_the_vector(case: dict[str, str]) -> None:
    fields = [bytes.fromhex(f) for f in VECTORS["fields"]]
    assert frame(case["tag"], *fields).hex() == case["framed"]


def _constants(tree: ast.Module) -> dict[str, object]:
    out: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _used_in_source() -> tuple[set[str], set[bytes]]:
    tags: set[str] = set()
    contexts: set[bytes] = set()
    for path in BROKER.rglob("*.py"):
        tree = ast.parse(path.read_text())
        consts = _constants(tree)
        for name, value in consts.items():
            if "CONTEXT" in name and isinstance(value, bytes):
                contexts.add(value)
            if (name.endswith("_TYPE") or name == "_STATEMENT") and isinstance(value, str):
                tags.add(value)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "frame":
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    tags.add(first.value)
                elif isinstance(first, ast.Name) and isinstance(consts.get(first.id), str):
                    tags.add(str(consts[first.id]))
    return tags, contexts


def test_every_tag_and_ml_dsa_context_in_the_source_is_specified() -> None:
    tags, contexts = _used_in_source()
    specified_tags = {t["tag"] for t in VECTORS["tags"]}
    specified_contexts = {c["context"].encode() for c in VECTORS["ml_dsa_contexts"]}
    assert tags <= specified_tags, f"frame() tags missing from the spec: {tags - specified_tags}"
    assert contexts == specified_contexts
    assert {"fed-key-cert-v1", "fed-revocation-v1", "fed-audit-key-v1"} <= tags


def test_root_signed_statement_matches_the_vector() -> None:
    st = VECTORS["statement"]
    body, message = bytes.fromhex(st["body"]), bytes.fromhex(st["message"])
    assert frame(st["type"], body) == message
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(st["root_seeds"]["ed25519"]))
    assert key.sign(message).hex() == st["ed25519"]  # RFC 8032: deterministic
    root = RootPublicKeys.from_raw({k: bytes.fromhex(v) for k, v in st["root_public"].items()})
    root.ml_dsa_65.verify(bytes.fromhex(st["ml_dsa_65"]), message, context=b"fed-trust-v1")
    cert = verify_certificate(bytes.fromhex(st["signed"]), root=root)
    assert (cert.agency, cert.key_id, cert.usage, cert.serial) == (
        "ES-PN",
        "sig-test-1",
        "SIGN",
        "0011223344556677",
    )
