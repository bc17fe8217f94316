"""Audit replay-verify throughput, on a synthetic signed stream held in memory.

:func:`synthetic_records` writes ``events`` realistic events (PUBLISH/DELIVER/
OPEN triples with SHA-256s, parties and codes-free fields) exactly as the writer
does — sequence numbers, leaf chaining, a signed checkpoint every
``checkpoint_every`` events — and :func:`verify_rate` times the full verifier
(decode, sequence, chain, Merkle roots, checkpoint signatures, semantic rules)
over them on one core. Kafka fetch time is not included; ``broker bench``
reports it separately.

Example::

    >>> rate = verify_rate(3_000)
    >>> rate > 0
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import merkle
from broker.audit.checkpoint import Checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind, origin_for
from broker.audit.findings import RawRecord
from broker.audit.note import sign_note
from broker.audit.signers import NoteSigner, NoteVerifier
from broker.audit.verify import AuditVerifier
from broker.codec import SchemaStore

__all__ = ["synthetic_records", "verify_rate"]


class _Writer:
    """Writes one synthetic stream exactly as :class:`broker.audit.writer.AuditLog` does."""

    def __init__(self, stream: str, partition: int, out: list[RawRecord], every: int) -> None:
        self.stream, self.partition, self.out, self.every = stream, partition, out, every
        self.signer = NoteSigner.from_private_key(
            name=origin_for(stream), private_key=Ed25519PrivateKey.generate()
        )
        self.rng = merkle.CompactRange()
        self.prev = b""
        self.offset = 0

    def _put(self, value: bytes) -> None:
        key = self.stream.encode()
        self.out.append(
            RawRecord(partition=self.partition, offset=self.offset, key=key, value=value)
        )
        self.offset += 1

    def write(self, event: AuditEvent) -> None:
        value = event.at_position(stream=self.stream, seq=self.rng.size, prev=self.prev).to_bytes()
        self.prev = merkle.leaf_hash(value)
        self.rng.append(self.prev)
        self._put(value)
        if self.rng.size % self.every == 0:
            self.checkpoint()

    def checkpoint(self) -> None:
        body = Checkpoint(origin=origin_for(self.stream), size=self.rng.size, root=self.rng.root())
        note = sign_note(body.to_note_body(), [self.signer])
        self._put(
            SchemaStore.default().encode(
                CHECKPOINT_SCHEMA,
                {"stream": self.stream, "size": self.rng.size, "note": note, "at": _EPOCH},
            )
        )

    def verifier(self) -> NoteVerifier:
        verifier = self.signer.verifier()
        assert isinstance(verifier, NoteVerifier)  # noqa: S101 - NoteSigner's own verifier type
        return verifier


_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def synthetic_records(
    events: int, *, agency: str = "ES-PN", checkpoint_every: int = 1000
) -> tuple[list[RawRecord], dict[str, NoteVerifier]]:
    """Return ``events`` signed synthetic events in two streams and their verifier keys.

    Each envelope is published by ``agency`` to itself (its own stream), delivered
    by the router (stream ``router``) and opened by ``agency``: every rule holds.
    """
    out: list[RawRecord] = []
    agency_log = _Writer(agency, 0, out, checkpoint_every)
    router_log = _Writer("router", 1, out, checkpoint_every)
    plan = (
        (AuditKind.PUBLISH, agency_log),
        (AuditKind.DELIVER, router_log),
        (AuditKind.OPEN, agency_log),
    )
    for i in range(events):
        kind, writer = plan[i % 3]
        envelope = f"synthetic-{i // 3:08d}"
        writer.write(
            AuditEvent.new(
                kind,
                actor=writer.stream,
                envelope_id=envelope,
                envelope_sha256=hashlib.sha256(envelope.encode()).digest(),
                parties=[agency, agency],
                message_kind="DOSSIER",
            )
        )
    for writer in (agency_log, router_log):
        if writer.rng.size % checkpoint_every:
            writer.checkpoint()
    return out, {w.stream: w.verifier() for w in (agency_log, router_log)}


def verify_rate(events: int = 200_000, *, agency: str = "ES-PN") -> float:
    """Return audit events verified per second (one core) over a synthetic signed stream."""
    records, keys = synthetic_records(events, agency=agency)
    verifier = AuditVerifier(keys=keys)
    started = time.perf_counter()
    verifier.feed_all(records)
    report = verifier.finish()
    seconds = time.perf_counter() - started
    if not report.ok:  # the synthetic stream is honest; a finding here is a bug
        raise AssertionError(f"synthetic audit stream did not verify: {report.findings[:3]}")
    return report.events / seconds
