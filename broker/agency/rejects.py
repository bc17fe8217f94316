"""Rejects: every record the inbox refuses is dead-lettered with its reason, and audited.

A refused record goes to ``<prefix>.rejected.<AGENCY>`` (:mod:`broker.deadletter`)
with the precise reason and a bounded part of the original bytes, a ``REJECT``
audit event records it, and consumption goes on. What a dead letter says never
quotes decrypted content (:func:`letter_detail`); the local log keeps the full
diagnostics. :func:`validated_dossier` turns a payload that does not validate into a
:class:`~broker.errors.ValidationError` carrying field paths and error types only.

Example::

    >>> field_path(("persons", 0, "family_name"))
    'persons[0].family_name'
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pydantic

from broker import telemetry
from broker.agency.batch import Position, Settlement
from broker.agency.publisher import Publisher
from broker.agency.results import ConsumeStats
from broker.audit.events import AuditEvent
from broker.deadletter import DeadLetter
from broker.envelope import OpenedEnvelope
from broker.errors import Error, ValidationError
from broker.models import Dossier
from broker.topics import TopicLayout

__all__ = ["Rejects", "field_path", "letter_detail", "validated_dossier"]

log = logging.getLogger(__name__)


class Rejects:
    """Dead-letter and audit the records one agency's inbox refuses."""

    def __init__(
        self,
        *,
        agency: str,
        layout: TopicLayout,
        publisher: Publisher,
        metrics: telemetry.Metrics,
    ) -> None:
        self.agency = agency
        self._layout = layout
        self._publisher = publisher
        self._metrics = metrics

    async def reject(
        self,
        record: Any,
        exc: Error,
        opened: OpenedEnvelope | None,
        stats: ConsumeStats,
        work: Settlement,
        *,
        sha256: bytes | None = None,
    ) -> None:
        """Dead-letter ``record`` (acknowledged with ``work``) and audit its ``REJECT``.

        ``sha256`` is given for a delivery resumed from the store, whose envelope bytes
        are not kept: its dead letter carries the position and id, not the original.
        """
        letter = DeadLetter.for_record(
            original=record.value or b"",
            key=record.key,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            stage="CONSUMER",
            rejected_by=self.agency,
            reason=exc.reason,
            detail=letter_detail(exc),  # our own topic: the cause, never decrypted content
            envelope_id=opened.header.envelope_id if opened else None,
        )
        if sha256 is not None and isinstance(record, Position):
            letter = dataclasses.replace(letter, envelope_sha256=sha256)
        log.warning(  # the local log keeps the full diagnostics
            "%s rejected %s@%d: %s", self.agency, record.topic, record.offset, exc.diagnostics()
        )
        where = f"{record.topic}/{record.partition}/{record.offset}"
        work.letters.append(  # acknowledged before the batch's offset is committed
            (
                await self._publisher.produce(
                    self._layout.rejected(self.agency), value=letter.to_bytes(), key=record.key
                ),
                where,
                letter.envelope_sha256.hex(),
            )
        )
        stats.rejected += 1
        stats.reasons[exc.reason] = stats.reasons.get(exc.reason, 0) + 1
        work.audit.append(
            AuditEvent.reject(
                actor=self.agency,
                envelope_id=letter.envelope_id,
                envelope_sha256=letter.envelope_sha256,
                parties=[opened.header.sender, self.agency] if opened else [self.agency],
                reason=exc.reason,
                where=where,
            )
        )
        self._metrics.rejected.add(1, {"fed.reason": exc.reason, "fed.stage": "consumer"})


def validated_dossier(opened: OpenedEnvelope, *, agency: str) -> Dossier:
    """Validate a decrypted dossier; what an error carries out is field paths and types.

    Decrypted content never leaves the agency: pydantic's messages quote the input
    (and our validators name the offending value), so only ``(field path, error
    type)`` pairs go into the error, hence into dead letters; the full text goes to
    the local log only.
    """
    try:
        return Dossier.from_bytes(opened.payload)
    except pydantic.ValidationError as exc:
        log.info("%s: dossier %s invalid: %s", agency, opened.header.envelope_id, exc)
        problems = [(field_path(e["loc"]), e["type"]) for e in exc.errors(include_input=False)]
    except Error as exc:  # the Avro decoding (SchemaError)
        log.info("%s: dossier %s undecodable: %s", agency, opened.header.envelope_id, exc)
        problems = [("(root)", exc.reason)]
    raise ValidationError("payload does not validate", problems=problems)


def field_path(loc: tuple[int | str, ...]) -> str:
    """Return pydantic's error location as ``a.b[0].c``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def letter_detail(exc: Error) -> str:
    """Return what a dead letter may say about ``exc``: no cause chain, no decrypted value.

    The message is peer-safe by the error tree's rule, the detail is written by the
    checks that run before decryption (or names header fields only), and problems are
    field paths and error types; the chained cause (a third-party message that may
    quote decrypted input) stays in the local log.
    """
    text = f"{type(exc).__name__} [{exc.reason}]: {exc.message}"
    if exc.detail:
        text += f"\n  detail: {exc.detail}"
    if isinstance(exc, ValidationError):
        text += "".join(f"\n  {path}: {problem}" for path, problem in exc.problems)
    return text
