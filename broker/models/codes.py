"""Handling and evaluation codes: Europol handling codes, 4x4 evaluation, TLP 2.0, PAP.

Field names and values match the Avro schema ``eu.fed.Codes``; inputs also accept
the human spellings ``"AMBER+STRICT"`` (TLP 2.0) and ``"1"``-``"4"`` (information
assessment).

Example::

    >>> c = Codes.model_validate({"handling": ["H2", "H0"], "tlp": "AMBER+STRICT", "pap": "GREEN",
    ...     "classification": "RESTRICTED", "evaluation": {"source": "B", "information": "2"},
    ...     "legal_basis": "Art. 19", "purpose": "test", "retention_review": "2030-01-01"})
    >>> c.handling, c.tlp, c.originator_consent_required
    (['H0', 'H2'], 'AMBER_STRICT', True)
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = ["Codes", "Evaluation", "codes_from_json", "codes_to_json"]

HandlingCode = Literal["H0", "H1", "H2", "H3"]
Tlp = Literal["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"]
Pap = Literal["CLEAR", "GREEN", "AMBER", "RED"]
Classification = Literal["UNCLASSIFIED", "BASIC_PROTECTION", "RESTRICTED", "CONFIDENTIAL", "SECRET"]


class Evaluation(BaseModel):
    """4x4 evaluation: source reliability (A, B, C, X) and information (I1-I4)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    source: Literal["A", "B", "C", "X"]
    information: Literal["I1", "I2", "I3", "I4"]

    @field_validator("information", mode="before")
    @classmethod
    def _digits(cls, value: Any) -> Any:
        if isinstance(value, int | str) and str(value) in {"1", "2", "3", "4"}:
            return f"I{value}"
        return value


class Codes(BaseModel):
    """Handling codes, TLP, PAP, classification, evaluation and legal context."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    handling: list[HandlingCode]
    h3_restrictions: str | None = None
    tlp: Tlp
    pap: Pap
    classification: Classification
    evaluation: Evaluation
    legal_basis: str
    purpose: str
    retention_review: dt.date

    @field_validator("tlp", mode="before")
    @classmethod
    def _tlp_spelling(cls, value: Any) -> Any:
        return "AMBER_STRICT" if value == "AMBER+STRICT" else value

    @field_validator("handling")
    @classmethod
    def _sorted_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one handling code is required")
        return sorted(set(value))

    @field_validator("legal_basis", "purpose")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _h3_text(self) -> Codes:
        has_h3 = "H3" in self.handling
        if has_h3 and not (self.h3_restrictions and self.h3_restrictions.strip()):
            raise ValueError("H3 requires h3_restrictions text")
        if not has_h3 and self.h3_restrictions:
            raise ValueError("h3_restrictions given without handling code H3")
        return self

    @property
    def originator_consent_required(self) -> bool:
        """Whether passing this on needs the originator's consent (H2, TLP:RED, AMBER+STRICT)."""
        return "H2" in self.handling or self.tlp in ("RED", "AMBER_STRICT")

    def to_avro(self) -> dict[str, Any]:
        """Return the ``eu.fed.Codes`` Avro record."""
        return self.model_dump()


def codes_to_json(codes: dict[str, Any]) -> dict[str, Any]:
    """Return an ``eu.fed.Codes`` record in JSON form (the review date as ISO text).

    >>> codes_to_json({"retention_review": dt.date(2030, 1, 1)})
    {'retention_review': '2030-01-01'}
    """
    return {**codes, "retention_review": codes["retention_review"].isoformat()}


def codes_from_json(codes: dict[str, Any]) -> dict[str, Any]:
    """Return the ``eu.fed.Codes`` record from its JSON form (provenance, stored deliveries).

    >>> codes_from_json({"retention_review": "2030-01-01", "evaluation": {"source": "B"}})
    {'retention_review': datetime.date(2030, 1, 1), 'evaluation': {'source': 'B'}}
    """
    rec = dict(codes)
    if isinstance(rec.get("retention_review"), str):
        rec["retention_review"] = dt.date.fromisoformat(rec["retention_review"])
    if "evaluation" in rec:
        rec["evaluation"] = dict(rec["evaluation"])
    return rec
