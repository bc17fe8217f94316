"""What the request workflow sends: requests, replies, refusals, deadline notices.

Field names match the Avro schemas one to one (``eu.fed.InformationRequest``,
``eu.fed.RequestReply``, ``eu.fed.RequestRefusal``, ``eu.fed.DeadlineNotice``); every
``from_bytes`` validates and raises :class:`~broker.errors.ValidationError` listing
every problem. A request's id is the envelope id of the ``REQUEST`` envelope that
carries it (the router and the audit log know envelopes by that id).

Example::

    >>> Urgency.from_cli("urgent-direct").limit(scale=1.0)
    datetime.timedelta(seconds=28800)
    >>> RefusalGround.from_cli("no-originator-consent").cli
    'no-originator-consent'
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broker.audit.deadlines import LIMITS
from broker.codec import SchemaStore
from broker.errors import ConfigError, ValidationError
from broker.models import Codes, Dossier, MediaReference, MessageLink, Person, Selector

__all__ = [
    "DeadlineNotice",
    "InformationRequest",
    "RefusalGround",
    "RequestRefusal",
    "RequestReply",
    "Urgency",
]

REQUEST_SCHEMA = "eu.fed.InformationRequest"
REPLY_SCHEMA = "eu.fed.RequestReply"
REFUSAL_SCHEMA = "eu.fed.RequestRefusal"
NOTICE_SCHEMA = "eu.fed.DeadlineNotice"

#: Directive (EU) 2023/977 Art. 5(1): one table, shared with the auditor's statistics.
_LIMITS = LIMITS
#: The reminder goes to the responding agency at this share of the time limit.
REMINDER_AT = 0.75


class Urgency(StrEnum):
    """How urgent a request is, and so its time limit (``eu.fed.Urgency``)."""

    URGENT_DIRECT = "URGENT_DIRECT"
    URGENT_INDIRECT = "URGENT_INDIRECT"
    STANDARD = "STANDARD"

    @property
    def cli(self) -> str:
        """The command-line spelling: ``urgent-direct``."""
        return self.value.lower().replace("_", "-")

    @classmethod
    def from_cli(cls, text: str) -> Urgency:
        """Parse ``urgent-direct`` (or ``URGENT_DIRECT``); a clear error otherwise."""
        try:
            return cls(text.upper().replace("-", "_"))
        except ValueError:
            choices = ", ".join(u.cli for u in cls)
            raise ConfigError(f"unknown urgency {text!r}: one of {choices}") from None

    def limit(self, *, scale: float) -> dt.timedelta:
        """Return the time limit, multiplied by ``scale`` (1.0: the directive's)."""
        return _LIMITS[self.value] * scale


class RefusalGround(StrEnum):
    """Directive (EU) 2023/977 Art. 6(1) refusal grounds (``eu.fed.RefusalGround``)."""

    NOT_AVAILABLE = "NOT_AVAILABLE"
    REQUEST_INCOMPLETE = "REQUEST_INCOMPLETE"
    JUDICIAL_AUTHORISATION_REFUSED = "JUDICIAL_AUTHORISATION_REFUSED"
    PERSONAL_DATA_CATEGORY = "PERSONAL_DATA_CATEGORY"
    INACCURATE_OR_OUTDATED = "INACCURATE_OR_OUTDATED"
    NATIONAL_SECURITY = "NATIONAL_SECURITY"
    INVESTIGATION_OR_SAFETY = "INVESTIGATION_OR_SAFETY"
    LEGAL_PERSON_INTERESTS = "LEGAL_PERSON_INTERESTS"
    MINOR_OFFENCE = "MINOR_OFFENCE"
    NOT_A_CRIMINAL_OFFENCE = "NOT_A_CRIMINAL_OFFENCE"
    NO_ORIGINATOR_CONSENT = "NO_ORIGINATOR_CONSENT"

    @property
    def cli(self) -> str:
        """The command-line spelling: ``no-originator-consent``."""
        return self.value.lower().replace("_", "-")

    @classmethod
    def from_cli(cls, text: str) -> RefusalGround:
        """Parse ``not-available`` (or ``NOT_AVAILABLE``); a clear error otherwise."""
        try:
            return cls(text.upper().replace("-", "_"))
        except ValueError:
            choices = ", ".join(g.cli for g in cls)
            raise ConfigError(f"unknown refusal ground {text!r}: one of {choices}") from None


def _millis(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("time needs a timezone")
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    @classmethod
    def _validated(cls, record: dict[str, Any], what: str) -> Any:
        try:
            return cls.model_validate(record)
        except pydantic.ValidationError as exc:
            problems = [
                (".".join(str(p) for p in e["loc"]) or "(root)", e["msg"]) for e in exc.errors()
            ]
            raise ValidationError(
                f"invalid {what}: {len(problems)} problem(s)", problems=problems
            ) from None


class InformationRequest(_Payload):
    """A request for information (``eu.fed.InformationRequest``)."""

    case_ref: str = Field(min_length=1)
    urgency: Urgency
    urgency_reason: str | None = None
    codes: Codes
    persons: list[Person] = Field(default_factory=list)
    selectors: list[Selector] = Field(default_factory=list)
    media: list[MediaReference] = Field(default_factory=list)
    question: str | None = None
    links: list[MessageLink] = Field(default_factory=list)
    created_at: dt.datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return _millis(value)

    @model_validator(mode="after")
    def _asks_something(self) -> InformationRequest:
        if not (self.persons or self.selectors or self.media or (self.question or "").strip()):
            raise ValueError("a request names persons, selectors, media or asks a question")
        if self.urgency != Urgency.STANDARD and not (self.urgency_reason or "").strip():
            raise ValueError("an urgent request gives its urgency_reason")
        return self

    def to_bytes(self) -> bytes:
        """Return the Avro single-object encoding."""
        return SchemaStore.default().encode(REQUEST_SCHEMA, self.model_dump())

    @classmethod
    def from_bytes(cls, data: bytes) -> InformationRequest:
        """Decode and validate."""
        rec = SchemaStore.default().decode(REQUEST_SCHEMA, data)
        return cls._validated(rec, "request")  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InformationRequest:
        """Validate a request given as JSON (the ``broker request FILE`` input)."""
        data = {"created_at": dt.datetime.now(dt.UTC), **data}
        return cls._validated(data, "request")  # type: ignore[no-any-return]


class RequestReply(_Payload):
    """A partial or final reply (``eu.fed.RequestReply``), carrying a dossier."""

    request_id: str
    case_ref: str
    final: bool
    dossier: bytes
    at: dt.datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return _millis(value)

    def opened_dossier(self) -> Dossier:
        """Decode and validate the dossier; it must link to the request it answers."""
        dossier = Dossier.from_bytes(self.dossier)
        if not any(
            link.link_type == "REPLY" and link.message_id == self.request_id
            for link in dossier.links
        ):
            raise ValidationError(
                "reply dossier does not link to its request",
                problems=[("dossier.links", f"no REPLY link to {self.request_id}")],
            )
        return dossier

    def to_bytes(self) -> bytes:
        """Return the Avro single-object encoding."""
        return SchemaStore.default().encode(REPLY_SCHEMA, self.model_dump())

    @classmethod
    def from_bytes(cls, data: bytes) -> RequestReply:
        """Decode and validate (the dossier included)."""
        reply: RequestReply = cls._validated(
            SchemaStore.default().decode(REPLY_SCHEMA, data), "reply"
        )
        reply.opened_dossier()
        return reply


class RequestRefusal(_Payload):
    """A refusal on an Art. 6 ground (``eu.fed.RequestRefusal``)."""

    request_id: str
    case_ref: str
    ground: RefusalGround
    note: str | None = None
    at: dt.datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return _millis(value)

    def to_bytes(self) -> bytes:
        """Return the Avro single-object encoding."""
        return SchemaStore.default().encode(REFUSAL_SCHEMA, self.model_dump())

    @classmethod
    def from_bytes(cls, data: bytes) -> RequestRefusal:
        """Decode and validate."""
        rec = SchemaStore.default().decode(REFUSAL_SCHEMA, data)
        return cls._validated(rec, "refusal")  # type: ignore[no-any-return]


class DeadlineNotice(_Payload):
    """The responder's node: a request passed its limit (``eu.fed.DeadlineNotice``)."""

    request_id: str
    case_ref: str
    stage: Literal["REMINDER", "OVERDUE"]
    urgency: Urgency
    received_at: dt.datetime
    deadline: dt.datetime
    at: dt.datetime

    @field_validator("received_at", "deadline", "at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return _millis(value)

    def to_bytes(self) -> bytes:
        """Return the Avro single-object encoding."""
        return SchemaStore.default().encode(NOTICE_SCHEMA, self.model_dump())

    @classmethod
    def from_bytes(cls, data: bytes) -> DeadlineNotice:
        """Decode and validate."""
        rec = SchemaStore.default().decode(NOTICE_SCHEMA, data)
        return cls._validated(rec, "deadline notice")  # type: ignore[no-any-return]
