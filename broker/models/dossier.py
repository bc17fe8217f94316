"""The dossier: persons, groups, devices, media hashes and selectors of one case message.

Field names match the Avro schema ``eu.fed.Dossier`` one to one, so conversion is
lossless: :meth:`Dossier.to_avro` / :meth:`Dossier.from_avro`, and
:meth:`Dossier.to_bytes` / :meth:`Dossier.from_bytes` for the single-object
encoding. :func:`validate_dossier_json` reports *every* problem, each with its
field path (``persons[2].selectors[0].value``).

Example::

    >>> from broker.synthetic import example_dossier
    >>> d = example_dossier(seed=1)
    >>> Dossier.from_bytes(d.to_bytes()).model_dump() == d.model_dump()
    True
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from broker.codec import SchemaStore
from broker.errors import ValidationError
from broker.models.codes import Codes

__all__ = [
    "PDQ_MIN_QUALITY",
    "Attachment",
    "Dossier",
    "Group",
    "IdentityDocument",
    "Location",
    "MediaReference",
    "MessageLink",
    "Person",
    "SeizedDevice",
    "Selector",
    "validate_dossier_json",
]

SCHEMA = "eu.fed.Dossier"
MAX_ATTACHMENT = 256 * 1024
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Plain-pattern fields are checked by pydantic-core itself (in Rust, no Python call per
# value); :func:`validate_dossier_json` words their errors as the Python validators did.
_HEX32 = r"^[0-9a-f]{32}$"
_HEX64 = r"^[0-9a-f]{64}$"
_ISO2 = r"^[A-Z]{2}$"
_PATTERN_MESSAGES = {
    _HEX32: "md5 must be 32 lower-case hex characters",
    _HEX64: "sha256 must be 64 lower-case hex characters",
    _ISO2: "must be an ISO 3166-1 alpha-2 country code",
}
_Country = Annotated[str, StringConstraints(pattern=_ISO2)]
_PERCEPTUAL_BITS = {"PDQ": 256, "PHOTODNA": 1152, "PHASH": 64}
#: PDQ hashes of quality below this are "too unreliable to match on" (Meta, pdq/README.md).
PDQ_MIN_QUALITY = 50

SelectorType = Literal[
    "PHONE_E164",
    "MESSAGING_ACCOUNT",
    "MESSAGING_GROUP",
    "EMAIL",
    "ONLINE_HANDLE",
    "DOCUMENT_NUMBER",
    "NAME_DOB",
    "DEVICE_ID",
]


class _Model(BaseModel):
    # Decrypted content is parsed with these models: errors never quote the input.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class Selector(_Model):
    """An identifier that can link cases across agencies."""

    type: SelectorType
    value: str
    platform: str | None = None

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        if not value.strip():
            raise ValueError("must not be blank")
        if kind == "PHONE_E164" and not _E164.fullmatch(value):
            raise ValueError(f"{value!r} is not an E.164 number (+ and 8-15 digits)")
        if kind == "EMAIL" and not _EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        if kind == "NAME_DOB" and not re.fullmatch(r"[^|]+\|[^|]+\|\d{4}-\d{2}-\d{2}", value):
            raise ValueError("NAME_DOB must be 'family|given|YYYY-MM-DD'")
        return value


class IdentityDocument(_Model):
    """An identity document."""

    type: str
    number: str
    issuing_country: _Country


class Person(_Model):
    """A person in the case."""

    person_ref: str
    role: Literal["SUSPECT", "VICTIM", "WITNESS", "CONTACT", "ADMINISTRATOR", "UNKNOWN"]
    family_name: str
    given_names: str
    aliases: list[str] = Field(default_factory=list)
    date_of_birth: dt.date | None = None
    nationalities: list[_Country] = Field(default_factory=list)
    documents: list[IdentityDocument] = Field(default_factory=list)
    selectors: list[Selector] = Field(default_factory=list)

    @field_validator("date_of_birth")
    @classmethod
    def _not_future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value > dt.datetime.now(dt.UTC).date():
            raise ValueError("date of birth is in the future")
        return value


class Group(_Model):
    """A group or organisation."""

    group_ref: str
    name: str
    kind: str
    selectors: list[Selector] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)


class SeizedDevice(_Model):
    """A seized device."""

    device_ref: str
    type: str
    storage_bytes: int = Field(ge=0)
    file_count: int = Field(ge=0)
    media_file_count: int = Field(ge=0)
    identifiers: list[Selector] = Field(default_factory=list)


class MediaReference(_Model):
    """Material referenced by hash only.

    ``md5`` is carried for existing hash sets and VICS exports, never matched on alone.
    ``perceptual_quality`` is the algorithm's own score (PDQ: 0-100); a PDQ hash below
    :data:`PDQ_MIN_QUALITY` is kept but :attr:`perceptual_low_quality`, and should not be
    matched on.
    """

    sha256: Annotated[str, StringConstraints(pattern=_HEX64)]
    perceptual_hash: str | None = None
    perceptual_algorithm: str | None = None
    category: str
    series_id: str | None = None
    victim_identified: bool = False
    ai_generated: bool = False
    altered: bool = False
    device_ref: str | None = None
    md5: Annotated[str, StringConstraints(pattern=_HEX32)] | None = None
    perceptual_quality: int | None = Field(default=None, ge=0, le=100)

    @field_validator("perceptual_quality")
    @classmethod
    def _quality(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("perceptual_hash") is None:
            raise ValueError("perceptual_quality needs a perceptual_hash")
        return value

    @property
    def perceptual_low_quality(self) -> bool:
        """Whether this is a PDQ hash whose quality is below :data:`PDQ_MIN_QUALITY`."""
        return (
            (self.perceptual_algorithm or "").upper() == "PDQ"
            and self.perceptual_quality is not None
            and self.perceptual_quality < PDQ_MIN_QUALITY
        )

    @field_validator("perceptual_algorithm")
    @classmethod
    def _perceptual(cls, value: str | None, info: ValidationInfo) -> str | None:
        phash = info.data.get("perceptual_hash")
        if (value is None) != (phash is None):
            raise ValueError("perceptual_hash and perceptual_algorithm go together")
        if value is not None and phash is not None:
            bits = _PERCEPTUAL_BITS.get(value.upper())
            if bits is None:
                raise ValueError(f"unknown perceptual algorithm {value!r}")
            if not re.fullmatch(rf"[0-9a-f]{{{bits // 4}}}", phash):
                raise ValueError(f"{value} hash must be {bits // 4} lower-case hex characters")
        return value


class Location(_Model):
    """A place."""

    description: str
    country: _Country
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class Attachment(_Model):
    """A small attachment."""

    name: str
    media_type: str
    content: bytes

    @field_validator("content")
    @classmethod
    def _size(cls, value: bytes) -> bytes:
        if len(value) > MAX_ATTACHMENT:
            raise ValueError(f"attachment larger than {MAX_ATTACHMENT} bytes")
        return value


class MessageLink(_Model):
    """A link to an earlier message of the case."""

    link_type: Literal["REPLY", "UPDATE", "CORRECTION"]
    message_id: str


class Dossier(_Model):
    """One message of a case, exchanged between agencies."""

    case_ref: str
    message_id: str
    links: list[MessageLink] = Field(default_factory=list)
    codes: Codes
    summary: str
    persons: list[Person] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    devices: list[SeizedDevice] = Field(default_factory=list)
    media: list[MediaReference] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: dt.datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("created_at needs a timezone")
        # Avro timestamp-millis: keep millisecond precision so round trips are exact.
        value = value.astimezone(dt.UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    def to_avro(self) -> dict[str, Any]:
        """Return the ``eu.fed.Dossier`` Avro record."""
        return self.model_dump()

    @classmethod
    def from_avro(cls, record: dict[str, Any]) -> Dossier:
        """Build from an ``eu.fed.Dossier`` Avro record."""
        return cls.model_validate(record)

    def to_bytes(self) -> bytes:
        """Return the Avro single-object encoding."""
        return SchemaStore.default().encode(SCHEMA, self.to_avro())

    @classmethod
    def from_bytes(cls, data: bytes) -> Dossier:
        """Decode the Avro single-object encoding (older published versions resolve)."""
        return cls.from_avro(SchemaStore.default().decode(SCHEMA, data))

    def to_json(self) -> str:
        """Return JSON (attachments base64)."""
        return self.model_dump_json(indent=2)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _message(error: Any) -> str:
    if error["type"] == "string_pattern_mismatch":
        return _PATTERN_MESSAGES.get(error.get("ctx", {}).get("pattern"), str(error["msg"]))
    return str(error["msg"])


def validate_dossier_json(text: str) -> Dossier:
    """Parse and validate a dossier from JSON; raise ValidationError listing every problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            "not valid JSON", problems=[("(root)", f"line {exc.lineno} col {exc.colno}: {exc.msg}")]
        ) from None
    try:
        return Dossier.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [(_path(e["loc"]), _message(e)) for e in exc.errors()]
        raise ValidationError(
            f"invalid dossier: {len(problems)} problem(s)", problems=problems
        ) from None
