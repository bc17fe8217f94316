"""The tamper-evident audit log (RFC 9162 Merkle log with C2SP signed checkpoints).

Each audit stream is its own Merkle log (:mod:`broker.merkle`) whose tree heads
are published as signed checkpoints (:mod:`broker.audit.checkpoint`): the log
signs with Ed25519, other agencies cosign as witnesses. An auditor replays the
stream, recomputes the root at every checkpoint size and compares.

The package reads like its specifications: ``events`` (what is recorded, with a
typed constructor per kind), ``journal`` and ``writer`` (durable, gap-free
streams published to Kafka), ``note``/``checkpoint``/``signers`` (C2SP signed
notes, tlog-checkpoint bodies, key types), ``keys`` (root-certified stream keys),
``findings``/``verify``/``rules`` (the auditor's replay), ``export``, ``proof``,
``witness`` and ``auditor`` (the jobs behind ``broker audit``).

Example::

    >>> from broker import merkle
    >>> from broker.audit.checkpoint import Checkpoint
    >>> leaves = [merkle.leaf_hash(b"event-1"), merkle.leaf_hash(b"event-2")]
    >>> cp = Checkpoint(origin="audit.example/ES-PN", size=2, root=merkle.root(leaves))
    >>> Checkpoint.parse(cp.to_note_body()) == cp
    True
"""

from __future__ import annotations

from broker.audit.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.findings import AuditReport, Finding, FindingKind, RawRecord
from broker.audit.keys import load_audit_keys, load_audit_signer
from broker.audit.verify import AuditVerifier
from broker.audit.writer import AuditLog, AuditSink, CheckpointPolicy, load_audit_log

__all__ = [
    "AuditEvent",
    "AuditKind",
    "AuditLog",
    "AuditReport",
    "AuditSink",
    "AuditVerifier",
    "Checkpoint",
    "CheckpointPolicy",
    "Finding",
    "FindingKind",
    "RawRecord",
    "SignedCheckpoint",
    "load_audit_keys",
    "load_audit_log",
    "load_audit_signer",
    "open_checkpoint",
]
