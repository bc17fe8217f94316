"""What one transaction attempt of the router wrote, applied only once it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from broker.audit.events import AuditEvent
from broker.deadletter import DeadLetter
from broker.errors import Error

__all__ = ["Attempt", "Refused", "Send", "where"]


@dataclass(frozen=True, kw_only=True)
class Send:
    """One write handed to the producer inside a transaction, and why."""

    future: Any
    record: Any
    topic: str
    dead_letter: bool = False


@dataclass
class Attempt:
    """What one transaction attempt wrote; applied (audit, stats) only once it commits."""

    sends: list[Send] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    letters: list[tuple[DeadLetter, Error]] = field(default_factory=list)
    routed: int = 0
    rejected: int = 0
    #: Records Kafka refused for good (shared by the attempts of one partition's batch).
    refused: dict[tuple[str, int, int], Error] = field(default_factory=dict)
    #: Records whose dead letter Kafka refused for good (their loss is audited).
    letter_lost: set[tuple[str, int, int]] = field(default_factory=set)


class Refused(Exception):  # noqa: N818 - internal signal, never leaves the router
    """Kafka refused some writes for good; their records are marked, route the batch again."""


def where(record: Any) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)
