"""URL reports: what a hotline analyst records about one URL, and where it goes.

A report carries the URL, the hosting country and provider *as recorded* (by the
analyst or the hotline's own lookup table: the broker makes no network lookup),
the hashes of the media found there (never content) with a per-item assessment,
and the reporting hotline. It travels as an ordinary sealed, signed envelope of
kind ``URL_REPORT`` (``eu.fed.hotline.UrlReport``, docs/hotlines.md).

Routing (INHOPE ICCAM's rule: by where content is hosted, not who reported it):
:func:`route_report` picks the hotline covering ``host_country`` from the
root-signed member registry, or the hub when no member does. The sender seals to
that member; the router enforces that only a hotline or the hub receives
``URL_REPORT`` (:func:`broker.topics.message_allowed`), and the receiver refuses
a report for a country it does not cover (:func:`check_routed`, ``misrouted-report``,
dead-lettered by the inbox).

Example::

    >>> from broker.topics import MemberKind
    >>> from broker.trust.members import Member
    >>> members = {"HR-CNZD": Member(agency="HR-CNZD", kind=MemberKind.HOTLINE, country="HR")}
    >>> route_report(members, host_country="HR"), route_report(members, host_country="US")
    ('HR-CNZD', 'EUROPOL')
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from broker.codec import SchemaStore
from broker.errors import MisroutedReportError, ValidationError
from broker.hashlist.state import ListState
from broker.topics import HUB, MemberKind, check_agency_id
from broker.trust.members import COUNTRY_PATTERN, Member

__all__ = [
    "KIND",
    "SCHEMA",
    "ReportedMedia",
    "UrlReport",
    "check_routed",
    "classify_known",
    "report_codes",
    "route_report",
]

#: Envelope kind of a URL report, and its payload schema.
KIND = "URL_REPORT"
SCHEMA = "eu.fed.hotline.UrlReport"

Classification = Literal["ILLEGAL_WORLDWIDE", "ILLEGAL_NATIONALLY", "NOT_ILLEGAL"]
Origin = Literal["REAL_VICTIM", "AI_GENERATED", "UNDETERMINED"]
#: Most severe first: a URL's overall classification is its most severe item's.
_SEVERITY: tuple[Classification, ...] = ("ILLEGAL_WORLDWIDE", "ILLEGAL_NATIONALLY", "NOT_ILLEGAL")
_HEX = {"sha256": 64, "md5": 32, "pdq": 64}
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_ANALYST = re.compile(r"^[!-~]{1,64}$")


def _millis(t: dt.datetime) -> dt.datetime:
    """``t`` as Avro timestamp-millis stores it."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


@dataclass(frozen=True, kw_only=True)
class ReportedMedia:
    """One item at the URL: hashes only, and its assessment."""

    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    classification: Classification
    category: str | None = None
    origin: Origin = "UNDETERMINED"
    auto: bool = False
    list_entry: str | None = None

    def __post_init__(self) -> None:
        for kind, length in _HEX.items():
            value = getattr(self, kind)
            if value is not None and not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
                raise ValidationError(f"malformed {kind}", detail=f"{length} lower-case hex")
        if not (self.sha256 or self.md5 or self.pdq):
            raise ValidationError("a reported item needs a SHA-256, MD5 or PDQ hash")

    @property
    def hashes(self) -> list[str]:
        """``kind:value`` of every hash of the item."""
        return [f"{k}:{v}" for k in _HEX if (v := getattr(self, k)) is not None]


@dataclass(frozen=True, kw_only=True)
class UrlReport:
    """``eu.fed.hotline.UrlReport``."""

    reporting_hotline: str
    analyst: str
    url: str
    host_country: str
    hosting_provider: str
    media: tuple[ReportedMedia, ...]
    host_source: Literal["ANALYST", "LOOKUP_TABLE"] = "ANALYST"
    report_id: str = field(default_factory=lambda: secrets.token_hex(16))
    reported_at: dt.datetime = field(default_factory=lambda: _millis(dt.datetime.now(dt.UTC)))

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[0-9a-f]{32}", self.report_id):
            problems.append("report_id: 32 lower-case hex characters")
        if not _URL.fullmatch(self.url) or len(self.url) > 2048:
            problems.append("url: an http(s) URL of at most 2048 characters")
        if not COUNTRY_PATTERN.fullmatch(self.host_country):
            problems.append("host_country: ISO 3166-1 alpha-2, e.g. HR")
        if not self.hosting_provider.strip():
            problems.append("hosting_provider: required")
        if not _ANALYST.fullmatch(self.analyst):
            problems.append("analyst: 1-64 printable ASCII")
        if not self.media:
            problems.append("media: at least one item")
        if self.reported_at.tzinfo is None:
            problems.append("reported_at: timezone-aware")
        try:
            check_agency_id(self.reporting_hotline)
        except Exception:  # noqa: BLE001 - folded into the one ValidationError below
            problems.append("reporting_hotline: an agency id")
        if problems:
            raise ValidationError("invalid URL report", detail="; ".join(problems))

    @property
    def classification(self) -> Classification:
        """The URL's overall classification: its most severe item's."""
        return min((m.classification for m in self.media), key=_SEVERITY.index)

    @property
    def illegal(self) -> bool:
        """Whether any item is illegal (worldwide or nationally)."""
        return self.classification != "NOT_ILLEGAL"

    def to_avro(self) -> dict[str, Any]:
        """Return the Avro record."""
        rec = asdict(self)
        rec["media"] = [asdict(m) for m in self.media]
        rec["classification"] = self.classification
        return rec

    def to_bytes(self) -> bytes:
        """Return the Avro single-object encoding (the envelope payload)."""
        return SchemaStore.default().encode(SCHEMA, self.to_avro())

    @classmethod
    def from_bytes(cls, data: bytes) -> UrlReport:
        """Decode and validate a payload (raise SchemaError or ValidationError)."""
        rec = SchemaStore.default().decode(SCHEMA, data)
        stated = rec.pop("classification")
        media = tuple(ReportedMedia(**m) for m in rec.pop("media"))
        report = cls(media=media, **rec)
        if report.classification != stated:
            raise ValidationError("URL classification is not its most severe item's")
        return report


def report_codes(today: dt.date | None = None) -> dict[str, Any]:
    """Return the envelope codes of a URL report (a hotline's; no police evaluation)."""
    today = today or dt.datetime.now(dt.UTC).date()
    return {
        "handling": ["H0"],
        "h3_restrictions": None,
        "tlp": "AMBER",
        "pap": "AMBER",
        "classification": "RESTRICTED",
        "evaluation": {"source": "X", "information": "I4"},
        "legal_basis": "Hotline report (INHOPE code of practice)",
        "purpose": "Removal of child sexual abuse material",
        "retention_review": today.replace(year=today.year + 2),
    }


def route_report(members: Mapping[str, Member], *, host_country: str, hub: str = HUB) -> str:
    """Return the member a report of content hosted in ``host_country`` goes to."""
    covering = sorted(
        m.agency
        for m in members.values()
        if m.kind is MemberKind.HOTLINE and m.country == host_country
    )
    return covering[0] if covering else hub


def check_routed(
    report: UrlReport, *, sender: str, me: Member, members: Mapping[str, Member], hub: str = HUB
) -> None:
    """Raise unless ``report`` reached the member it should (signed sender = reporting hotline)."""
    if report.reporting_hotline != sender:
        raise MisroutedReportError(
            "report names another hotline than its signer",
            detail=f"{report.reporting_hotline} signed by {sender}",
        )
    expected = route_report(members, host_country=report.host_country, hub=hub)
    if me.agency != expected:
        raise MisroutedReportError(
            "report is for another member",
            detail=f"hosted in {report.host_country}: for {expected}, not {me.agency}",
        )


def classify_known(
    media: Sequence[ReportedMedia], lists: ListState, *, origin_of: Origin = "UNDETERMINED"
) -> list[ReportedMedia]:
    """Classify automatically every item whose hash is on a followed list (matchable entries).

    The analyst never sees those again (ICCAM: "never viewed a second time"): the item
    becomes ILLEGAL_WORLDWIDE with the list entry's category, ``auto`` and ``list_entry``.
    """
    sha = [(i, m.sha256) for i, m in enumerate(media) if m.sha256]
    md5 = [(i, m.md5) for i, m in enumerate(media) if m.md5]
    out = list(media)
    for pairs, kind in ((sha, "sha256"), (md5, "md5")):
        if not pairs:
            continue
        values = [v for _, v in pairs if v is not None]
        hits = lists.match(sha256=values) if kind == "sha256" else lists.match(md5=values)
        for hit in hits:
            i = pairs[hit.query][0]
            e = hit.entry
            out[i] = replace(
                out[i],
                classification="ILLEGAL_WORLDWIDE",
                category=e.category or out[i].category,
                origin=out[i].origin if out[i].origin != "UNDETERMINED" else origin_of,
                auto=True,
                list_entry=f"{e.owner}/{e.list}/{e.entry_id}",
            )
    return out
