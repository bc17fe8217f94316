"""Restrictions only tighten: the order of each code, and the codes a control order carries.

A restriction may add handling codes, raise TLP, PAP or classification, or bring the
retention review forward; anything else (dropping H2, lowering TLP, changing the legal
basis or the purpose) is a release, which goes through the grant path, never here.

Example::

    >>> old = {"handling": ["H0"], "h3_restrictions": None, "tlp": "GREEN", "pap": "GREEN",
    ...        "classification": "RESTRICTED", "evaluation": {"source": "B", "information": "I2"},
    ...        "legal_basis": "Art. 19", "purpose": "test",
    ...        "retention_review": dt.date(2030, 1, 1)}
    >>> is_tightening(old, {**old, "handling": ["H0", "H2"], "tlp": "RED"})
    True
    >>> is_tightening(old, {**old, "tlp": "CLEAR"})
    False
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from broker.errors import WideningError

__all__ = ["control_codes", "is_tightening", "require_tightening", "tightened"]

_TLP = ("CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED")
_PAP = ("CLEAR", "GREEN", "AMBER", "RED")
_CLASSIFICATION = ("UNCLASSIFIED", "BASIC_PROTECTION", "RESTRICTED", "CONFIDENTIAL", "SECRET")


def _widened(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Return what ``new`` widens compared with ``old`` (empty: a tightening or the same)."""
    out = []
    if not set(old["handling"]) <= set(new["handling"]):
        out.append("handling codes dropped")
    if (old.get("h3_restrictions") or "") not in (new.get("h3_restrictions") or ""):
        out.append("H3 restriction text dropped")
    for name, order in (("tlp", _TLP), ("pap", _PAP), ("classification", _CLASSIFICATION)):
        if order.index(new[name]) < order.index(old[name]):
            out.append(f"{name} lowered")
    for name in ("legal_basis", "purpose", "evaluation"):
        if dict(new)[name] != dict(old)[name]:
            out.append(f"{name} changed")
    if new["retention_review"] > old["retention_review"]:
        out.append("retention review moved later")
    return out


def is_tightening(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``new`` codes are at least as tight as ``old`` in every respect."""
    return not _widened(old, new)


def require_tightening(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Raise :class:`WideningError` unless ``new`` only tightens ``old``."""
    widened = _widened(old, new)
    if widened:
        raise WideningError(
            "a restriction can only tighten the codes (a release goes through a grant)",
            detail="; ".join(widened),
        )


def tightened(
    old: Mapping[str, Any],
    *,
    handling: Sequence[str] = (),
    tlp: str | None = None,
    pap: str | None = None,
) -> dict[str, Any]:
    """Return ``old`` with ``handling`` codes added and TLP / PAP replaced (checked)."""
    new = dict(old)
    new["handling"] = sorted(set(old["handling"]) | set(handling))
    if tlp is not None:
        new["tlp"] = "AMBER_STRICT" if tlp == "AMBER+STRICT" else tlp
    if pap is not None:
        new["pap"] = pap
    if "H3" in new["handling"] and not new.get("h3_restrictions"):
        raise WideningError("H3 needs restriction text", detail="add it at publish time")
    require_tightening(old, new)
    return new


def control_codes(now: dt.datetime) -> dict[str, Any]:
    """Return the header codes of a recall (it carries no dossier content of its own)."""
    return {
        "handling": ["H0"],
        "h3_restrictions": None,
        "tlp": "AMBER",
        "pap": "AMBER",
        "classification": "RESTRICTED",
        "evaluation": {"source": "A", "information": "I1"},
        "legal_basis": "Regulation (EU) 2016/794 Art. 19(2)",
        "purpose": "recall of a shared dossier",
        "retention_review": (now + dt.timedelta(days=5 * 365)).date(),
    }
