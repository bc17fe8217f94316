"""Selector normalization: the form the hub indexes and matches on.

Example::

    >>> normalize_selector("EMAIL", " Alias.Test@Example.ORG ")
    'email:alias.test@example.org'
    >>> normalize_selector("PHONE_E164", "+44 7700 900123")
    'phone:+447700900123'
"""

from __future__ import annotations

import re

__all__ = ["normalize_selector"]


def normalize_selector(kind: str, value: str, platform: str | None = None) -> str:
    """Return ``kind:normalized-value`` (platform-qualified for accounts, groups, handles)."""
    v = value.strip()
    if kind == "PHONE_E164":
        return "phone:+" + re.sub(r"\D", "", v)
    if kind == "EMAIL":
        return "email:" + v.lower()
    if kind in ("MESSAGING_ACCOUNT", "MESSAGING_GROUP", "ONLINE_HANDLE"):
        handle = v.lstrip("@").lower()
        where = (platform or "any").strip().lower()
        return f"{kind.lower()}:{where}:{handle}"
    if kind == "DOCUMENT_NUMBER":
        return "document:" + re.sub(r"[\s-]", "", v).upper()
    if kind == "NAME_DOB":
        family, given, dob = (p.strip() for p in v.split("|"))
        return f"name_dob:{family.lower()}|{' '.join(given.lower().split())}|{dob}"
    if kind == "DEVICE_ID":
        return "device:" + re.sub(r"[\s:-]", "", v).upper()
    return f"{kind.lower()}:{v}"
