"""The tamper-evident audit log (RFC 9162 Merkle log with C2SP signed checkpoints).

Each audit stream is its own Merkle log (:mod:`broker.merkle`) whose tree heads
are published as signed checkpoints (:mod:`broker.audit.checkpoint`): the log
signs with Ed25519, other agencies cosign as witnesses. An auditor replays the
stream, recomputes the root at every checkpoint size and compares.

Example::

    >>> from broker import merkle
    >>> from broker.audit.checkpoint import Checkpoint
    >>> leaves = [merkle.leaf_hash(b"event-1"), merkle.leaf_hash(b"event-2")]
    >>> cp = Checkpoint(origin="audit.example/ES-PN", size=2, root=merkle.root(leaves))
    >>> Checkpoint.parse(cp.to_note_body()) == cp
    True
"""

from __future__ import annotations
