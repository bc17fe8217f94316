"""Audit replay-verify rate (events/s, one core).

:func:`_audit_verify_rate` is the single place this figure comes from. The audit
log proper (issue 6, ``broker.audit``) provides ``broker.audit.bench.verify_rate``
— a full replay-verify of an in-memory signed audit stream — and is used when it
exists. Until then :func:`replay_verify_rate` measures the same work with what
exists now: N ``eu.fed.AuditEvent`` records, Avro single-object encoded, an
RFC 9162 leaf per event and an Ed25519-signed C2SP checkpoint every 1,000
events; timed is the auditor's replay: decode every event, hash its leaf, extend
the compact range, and at every checkpoint verify the note signature and compare
size and root with the recomputed ones. Which one ran is reported with the figure.

Example::

    >>> replay_verify_rate(2_000) > 0
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import time
from collections.abc import Callable
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import merkle
from broker.audit.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_note
from broker.bench.workload import RECIPIENTS, SENDER, BenchError
from broker.codec import SchemaStore
from broker.synthetic import example_dossier

__all__ = ["CHECKPOINT_EVERY", "audit_verifier_name", "replay_verify_rate"]

CHECKPOINT_EVERY = 1_000
_SCHEMA = "eu.fed.AuditEvent"
_KINDS = ["PUBLISH", "ROUTE", "DELIVER", "OPEN", "RECEIPT"]
_ORIGIN = "audit.bench.example/ES-PN"


def _issue6() -> Callable[[int], float] | None:
    try:
        module = importlib.import_module("broker.audit.bench")
    except ImportError:
        return None
    return cast("Callable[[int], float]", module.verify_rate)


def audit_verifier_name() -> str:
    """Name the verifier :func:`_audit_verify_rate` uses."""
    return "broker.audit.bench.verify_rate" if _issue6() else "broker.bench.audit (interim)"


def _audit_verify_rate(events: int) -> float:
    """Return audit replay-verify events/s: issue 6's verifier if present, else ours."""
    verify_rate = _issue6()
    if verify_rate is not None:
        return verify_rate(events)
    return replay_verify_rate(events)


def replay_verify_rate(events: int) -> float:
    """Build a signed stream of ``events`` audit events, then time its replay-verify."""
    if events < CHECKPOINT_EVERY:
        events = CHECKPOINT_EVERY
    store = SchemaStore.default()
    codes = example_dossier(0).codes.to_avro()
    at = dt.datetime.now(dt.UTC)
    stream: list[bytes] = []
    for i in range(events):
        stream.append(
            store.encode(
                _SCHEMA,
                {
                    "event_id": f"{i:016x}",
                    "kind": _KINDS[i % len(_KINDS)],
                    "at": at,
                    "actor": SENDER,
                    "envelope_id": hashlib.sha256(i.to_bytes(8, "big")).hexdigest()[:32],
                    "envelope_sha256": hashlib.sha256(b"envelope-%d" % i).digest(),
                    "parties": [SENDER, *RECIPIENTS[: 1 + i % 3]],
                    "codes": codes,
                    "outcome": "OK",
                    "reason": None,
                },
            )
        )
    signer = NoteSigner.from_private_key(name=_ORIGIN, private_key=Ed25519PrivateKey.generate())
    notes: dict[int, bytes] = {}
    compact = merkle.CompactRange()
    for i, event in enumerate(stream, 1):
        compact.append(merkle.leaf_hash(event))
        if i % CHECKPOINT_EVERY == 0:
            cp = Checkpoint(origin=_ORIGIN, size=i, root=compact.root())
            notes[i] = sign_note(cp.to_note_body(), [signer])
    verifier = signer.verifier()

    start = time.perf_counter()
    replay = merkle.CompactRange()
    for i, event in enumerate(stream, 1):
        store.decode(_SCHEMA, event)
        replay.append(merkle.leaf_hash(event))
        note = notes.get(i)
        if note is not None:
            signed = open_checkpoint(note, log=verifier)
            if signed.checkpoint.size != i or signed.checkpoint.root != replay.root():
                raise BenchError("audit replay does not match its checkpoint", detail=f"at {i}")
    return events / (time.perf_counter() - start)
