"""Prove one audit event to another agency without disclosing the rest of the log.

A proof is a JSON document: the event's exact bytes, its stream and index, an
RFC 9162 inclusion proof, and the signed checkpoint (C2SP note) whose tree it
is included in. :func:`check_proof` needs only the federation's public material
(root-certified audit keys): it verifies the note, recomputes the root from the
event's leaf hash and the proof, and checks that the event sits where it says.

Example::

    proof = build_proof(verifier, event_id="...")
    event = check_proof(proof, keys=load_audit_keys(settings))
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from broker import merkle
from broker.audit.checkpoint import open_checkpoint
from broker.audit.events import AuditEvent, origin_for
from broker.audit.signers import NoteVerifier
from broker.audit.verify import AuditVerifier
from broker.errors import AuditError, ProofError

__all__ = ["build_proof", "check_proof"]

FORMAT = "fed-audit-proof-v1"


def build_proof(verifier: AuditVerifier, *, event_id: str) -> dict[str, Any]:
    """Return the proof document for ``event_id`` from a finished replay (``keep_events``)."""
    found = [(ev, raw) for ev, raw in verifier.events if ev.event_id == event_id]
    if not found:
        raise AuditError("no such event in the audit log", detail=event_id)
    event, raw = found[0]
    state = verifier.streams[event.stream]
    sizes = sorted(s for s in state.checkpoints if event.seq < s <= state.size)
    if not sizes:
        raise AuditError(
            "event not anchored yet: no checkpoint covers it", detail=f"{event.stream}#{event.seq}"
        )
    checkpoint = state.checkpoints[sizes[0]]
    tree = merkle.MerkleTree.from_leaf_hashes(state.leaf_hashes(checkpoint.size))
    if tree.root() != checkpoint.root:
        raise AuditError("the log does not match its checkpoint: run `broker audit verify`")
    return {
        "format": FORMAT,
        "stream": event.stream,
        "index": event.seq,
        "tree_size": checkpoint.size,
        "event": base64.b64encode(raw.value).decode(),
        "proof": [base64.b64encode(h).decode() for h in tree.inclusion_proof(event.seq)],
        "checkpoint": checkpoint.note.decode(),
    }


def check_proof(doc: Mapping[str, Any], *, keys: Mapping[str, NoteVerifier]) -> AuditEvent:
    """Verify a proof document; return the proven event or raise :class:`ProofError`."""
    try:
        if doc["format"] != FORMAT:
            raise ProofError("unknown proof format", detail=str(doc["format"]))
        stream, index, size = str(doc["stream"]), int(doc["index"]), int(doc["tree_size"])
        value = base64.b64decode(doc["event"], validate=True)
        path = [base64.b64decode(h, validate=True) for h in doc["proof"]]
        note = str(doc["checkpoint"]).encode()
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ProofError("malformed proof document", detail=str(exc)) from exc
    key = keys.get(stream)
    if key is None:
        raise ProofError("no certified audit key for the proof's stream", detail=stream)
    try:
        signed = open_checkpoint(note, log=key, origin=origin_for(stream))
    except AuditError as exc:
        raise ProofError("the proof's checkpoint is not signed by the stream") from exc
    if signed.checkpoint.size != size:
        raise ProofError("the proof's tree size is not the checkpoint's")
    try:
        merkle.verify_inclusion(
            leaf_hash=merkle.leaf_hash(value),
            index=index,
            size=size,
            proof=path,
            root=signed.checkpoint.root,
        )
    except merkle.MerkleError as exc:
        raise ProofError("the event is not in the signed tree", detail=exc.message) from exc
    event = AuditEvent.from_bytes(value)
    if event.stream != stream or event.seq != index:
        raise ProofError(
            "the event names another position than the proof",
            detail=f"{event.stream}#{event.seq} vs {stream}#{index}",
        )
    return event
