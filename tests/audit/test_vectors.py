"""Audit formats against tests/vectors/spec/audit.json: events and their chain, checkpoint
note and witness cosignature, the proof file, and a whole export archive.

docs/audit.md specifies these bytes for an independent auditor; these tests check that the
code reproduces each vector and accepts it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import merkle
from broker._internal.framing import frame
from broker.audit.checkpoint import Checkpoint
from broker.audit.events import AuditEvent, origin_for
from broker.audit.export import read_archive
from broker.audit.findings import RawRecord
from broker.audit.note import add_signatures, sign_note
from broker.audit.proof import build_proof, check_proof
from broker.audit.signers import NoteSigner, NoteVerifier, verifier_from_key_string
from broker.audit.verify import AuditVerifier
from broker.audit.witness import witness_key, witness_name
from broker.errors import AuditError
from broker.trust.certificates import RootPublicKeys
from broker.trust.registry import TrustStore

V: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "spec" / "audit.json").read_text()
)
EVENTS = [bytes.fromhex(e) for e in V["events"]]


def _signer(stream: str) -> NoteSigner:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(V["audit_key_seeds"][stream]))
    return NoteSigner.from_private_key(name=origin_for(stream), private_key=key)


def _keys() -> dict[str, NoteVerifier]:
    out = {}
    for stream, vkey in V["audit_vkeys"].items():
        verifier = verifier_from_key_string(vkey)
        assert isinstance(verifier, NoteVerifier)
        out[stream] = verifier
    return out


def _records() -> list[RawRecord]:
    values = [*EVENTS, bytes.fromhex(V["checkpoint_record"])]
    return [RawRecord(partition=0, offset=i, key=b"ES-PN", value=v) for i, v in enumerate(values)]


def test_event_chain_starts_with_an_empty_previous_leaf_hash() -> None:
    events = [AuditEvent.from_bytes(v) for v in EVENTS]
    assert events[0].prev_leaf_hash == b""  # zero bytes, not 32 zero bytes
    leaves = [merkle.leaf_hash(v) for v in EVENTS]
    assert [h.hex() for h in leaves] == V["leaf_hashes"]
    assert [e.prev_leaf_hash for e in events[1:]] == leaves[:-1]
    assert [(e.stream, e.seq) for e in events] == [("ES-PN", 0), ("ES-PN", 1), ("ES-PN", 2)]
    assert merkle.MerkleTree.from_leaf_hashes(leaves).root().hex() == V["root"]


def test_checkpoint_note_and_witness_cosignature_match_the_vector() -> None:
    body = Checkpoint(origin="fed.audit/ES-PN", size=3, root=bytes.fromhex(V["root"]))
    note = sign_note(body.to_note_body(), [_signer("ES-PN")])
    assert note.decode() == V["note"]
    assert _signer("ES-PN").verifier_key_string() == V["audit_vkeys"]["ES-PN"]
    witness = _signer("DE-BKA").cosigner(witness_name("DE-BKA")).at(1_768_469_400)
    assert add_signatures(note, [witness]).decode() == V["cosigned_note"]
    assert witness_key(_keys(), "DE-BKA") == V["witness_vkey"]


def test_proof_file_is_reproduced_and_checks() -> None:
    verifier = AuditVerifier(keys={"ES-PN": _keys()["ES-PN"]})  # the vector holds one stream
    verifier.keep_events = True
    verifier.feed_all(_records())
    assert verifier.finish().ok
    text = json.dumps(build_proof(verifier, event_id=f"{1:032x}"), indent=2) + "\n"
    assert text == V["proof_file"]
    event = check_proof(json.loads(V["proof_file"]), keys=_keys())
    assert (event.stream, event.seq) == ("ES-PN", 1)


def _archive(tmp_path: Path) -> tuple[Path, TrustStore]:
    ex = V["export"]
    directory = tmp_path / "archive"
    directory.mkdir()
    for name, data in ex["files"].items():
        (directory / name).write_bytes(bytes.fromhex(data))
    root = RootPublicKeys.from_raw({k: bytes.fromhex(v) for k, v in ex["root_public"].items()})
    trust = TrustStore.from_signed(
        root=root, certificates=[bytes.fromhex(ex["exporter_certificate"])], revocations=[]
    )
    return directory, trust


def test_export_archive_vector_verifies_offline(tmp_path: Path) -> None:
    ex = V["export"]
    directory, trust = _archive(tmp_path)
    manifest = (directory / "manifest.json").read_bytes()
    message = frame("fed-audit-manifest-v1", manifest)  # the exact file bytes, never re-encoded
    assert message.hex() == ex["signature_message"]
    sig = json.loads((directory / "manifest.sig").read_text())
    seed = bytes.fromhex(ex["exporter_seeds"]["ed25519"])
    assert Ed25519PrivateKey.from_private_bytes(seed).sign(message).hex() == (
        base64.b64decode(sig["ed25519"]).hex()
    )
    contents = read_archive(directory, trust=trust)
    assert contents.problems == []
    assert sorted(r.value for r in contents.records) == sorted(r.value for r in _records())
    verifier = AuditVerifier(keys={"ES-PN": _keys()["ES-PN"]})  # the vector holds one stream
    verifier.feed_all(contents.records)
    assert verifier.finish(vouched=contents.external).ok


def test_export_manifest_changed_by_one_byte_is_refused(tmp_path: Path) -> None:
    directory, trust = _archive(tmp_path)
    path = directory / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"size": 3', b'"size": 2'))
    with pytest.raises(AuditError, match="signature does not verify"):
        read_archive(directory, trust=trust)
