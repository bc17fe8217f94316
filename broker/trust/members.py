"""Who each member is: its kind (police, hub, hotline) and the country it covers.

A member's ``agencies/<ID>/profile.json`` is listed in the root-signed registry
manifest (:mod:`broker.trust.manifest`), so its ``kind`` and ``country`` are as
trustworthy as its certificates. A profile written before member kinds existed
has no ``kind``: it is the hub if its id is :data:`broker.topics.HUB`, else police.

Example::

    >>> m = Member.from_profile(b'{"agency": "HR-CNZD", "kind": "hotline", "country": "HR"}')
    >>> m.kind, m.country
    (<MemberKind.HOTLINE: 'hotline'>, 'HR')
    >>> Member.from_profile(b'{"agency": "EUROPOL"}').kind
    <MemberKind.HUB: 'hub'>
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from broker.errors import ConfigError, RegistryManifestError
from broker.topics import HUB, MemberKind, check_agency_id

__all__ = ["COUNTRY_PATTERN", "Member", "check_country", "default_kind", "members_of"]

#: ISO 3166-1 alpha-2 country codes, upper case.
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")


def check_country(country: str) -> str:
    """Return ``country`` if it is an ISO 3166-1 alpha-2 code, else raise ConfigError."""
    if not COUNTRY_PATTERN.fullmatch(country):
        raise ConfigError(f"malformed country {country!r}", detail="expected e.g. HR, NL, CA")
    return country


def default_kind(agency: str) -> MemberKind:
    """Return the kind of a member whose profile names none."""
    return MemberKind.HUB if agency == HUB else MemberKind.POLICE


@dataclass(frozen=True, kw_only=True)
class Member:
    """One member as its signed profile describes it."""

    agency: str
    kind: MemberKind
    #: The country a hotline covers (reports hosted there are routed to it); else optional.
    country: str | None = None

    @classmethod
    def from_profile(cls, data: bytes) -> Member:
        """Parse a ``profile.json``; raise RegistryManifestError if it is malformed."""
        try:
            doc = json.loads(data)
            agency = check_agency_id(doc["agency"])
            kind = MemberKind(doc.get("kind") or default_kind(agency))
            country = doc.get("country")
            if country is not None:
                check_country(country)
        except (ValueError, KeyError, TypeError, ConfigError) as exc:
            raise RegistryManifestError("malformed member profile", detail=str(exc)) from exc
        if kind is MemberKind.HOTLINE and country is None:
            raise RegistryManifestError("a hotline profile names no country", detail=agency)
        return cls(agency=agency, kind=kind, country=country)


def members_of(files: dict[str, bytes]) -> dict[str, Member]:
    """Return every member described by the verified registry ``files``, by agency id."""
    out: dict[str, Member] = {}
    for path, data in sorted(files.items()):
        parts = path.split("/")
        if len(parts) == 2 and parts[1] == "profile.json":
            member = Member.from_profile(data)
            out[member.agency] = member
    return out
