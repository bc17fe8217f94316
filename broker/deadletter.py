"""Dead letters: nothing that fails a check is dropped.

A record that fails any check is written to a ``<prefix>.rejected.<AGENCY>``
topic as an ``eu.fed.DeadLetter`` with where it came from (topic, partition,
offset), the SHA-256 of its bytes, who rejected it and why; then the consumer
goes on. A dead letter is bounded whatever it reports on: it keeps at most the
first :data:`MAX_ORIGINAL_BYTES` of the original (``original_size`` says how
large the whole was; the whole record stays at its source position) and at most
:data:`MAX_DETAIL_CHARS` of detail, so it always fits in a Kafka record.

What a peer may see is deliberately coarse (brief: "what a peer sees about a
failed check must not help an attacker"): the router writes to the *sender's*
rejected topic — the sender may be the attacker — so it records only the
stable reason code (and the envelope id the record's own header claims, which
tells the sender nothing new); the precise cause goes to the router's own log
and audit event. An agency's consumer writes to its *own* rejected topic and includes
the precise detail.

Example::

    >>> letter = DeadLetter.for_record(
    ...     original=b"\\x00garbage", key=None, topic="fed.outbox.ES-PN", partition=0,
    ...     offset=7, stage="ROUTER", rejected_by="router", reason="malformed")
    >>> DeadLetter.from_bytes(letter.to_bytes()).reason
    'malformed'
    >>> big = DeadLetter.for_record(
    ...     original=bytes(100_000), key=None, topic="fed.inbox.DE-BKA", partition=0,
    ...     offset=8, stage="CONSUMER", rejected_by="DE-BKA", reason="invalid-payload")
    >>> len(big.original), big.original_size, big.truncated
    (65536, 100000, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from broker.codec import SchemaStore
from broker.envelope.verify import claimed_envelope_id

__all__ = ["MAX_DETAIL_CHARS", "MAX_ORIGINAL_BYTES", "DeadLetter"]

_SCHEMA = "eu.fed.DeadLetter"
#: At most this many bytes of the original value travel in a dead letter (64 KiB).
MAX_ORIGINAL_BYTES = 64 * 1024
#: At most this many characters of detail travel in a dead letter.
MAX_DETAIL_CHARS = 4096


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """A rejected record, its origin and the reason."""

    original: bytes
    original_key: bytes | None
    source_topic: str
    source_partition: int
    source_offset: int
    stage: str
    rejected_by: str
    reason: str
    detail: str | None
    envelope_id: str | None
    envelope_sha256: bytes
    rejected_at: dt.datetime
    #: Size of the whole original (None in dead letters written before it was recorded).
    original_size: int | None = None

    @property
    def truncated(self) -> bool:
        """Whether ``original`` holds only the first bytes of the rejected record."""
        return self.original_size is not None and self.original_size > len(self.original)

    @classmethod
    def for_record(
        cls,
        *,
        original: bytes,
        key: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        stage: str,
        rejected_by: str,
        reason: str,
        detail: str | None = None,
        envelope_id: str | None = None,
    ) -> DeadLetter:
        """Build the (bounded) dead letter of one consumed record.

        ``envelope_id`` defaults to the id the record's header claims whenever the
        header decodes (:func:`broker.envelope.verify.claimed_envelope_id`), whatever
        check failed later, so every dead letter of an envelope can be found by its id.
        """
        if envelope_id is None:
            envelope_id = claimed_envelope_id(original)
        if detail is not None and len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 1] + "\u2026"
        return cls(
            original=original[:MAX_ORIGINAL_BYTES],
            original_size=len(original),
            original_key=key,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            stage=stage,
            rejected_by=rejected_by,
            reason=reason,
            detail=detail,
            envelope_id=envelope_id,
            envelope_sha256=hashlib.sha256(original).digest(),
            rejected_at=dt.datetime.now(dt.UTC),
        )

    def to_avro(self) -> dict[str, Any]:
        """Return the ``eu.fed.DeadLetter`` Avro record."""
        return {
            "original": self.original,
            "original_key": self.original_key,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "stage": self.stage,
            "rejected_by": self.rejected_by,
            "reason": self.reason,
            "detail": self.detail,
            "envelope_id": self.envelope_id,
            "envelope_sha256": self.envelope_sha256,
            "rejected_at": self.rejected_at,
            "original_size": self.original_size,
        }

    def to_bytes(self) -> bytes:
        """Encode as Avro single-object bytes."""
        return SchemaStore.default().encode(_SCHEMA, self.to_avro())

    @classmethod
    def from_bytes(cls, data: bytes) -> DeadLetter:
        """Decode Avro single-object bytes."""
        rec = SchemaStore.default().decode(_SCHEMA, data)
        return cls(**rec)
