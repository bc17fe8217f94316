"""Takedown notices: the full life cycle (issued, re-sent every 24 h while online, removed,
reappeared when the same hashes are reported at another URL), each step audited; signed
notices that verify and refuse tampering; XARF v4 output that validates; the removal report."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from broker.audit.events import AuditEvent, AuditKind
from broker.errors import NoticeError, SignatureError
from broker.hotline.metrics import removal_report, removal_svg
from broker.hotline.notices import NoticeBook, verify_notice
from broker.hotline.report import ReportedMedia, UrlReport
from broker.hotline.xarf import to_xarf
from broker.synthetic import media_hash
from broker.trust.testing import UnsafeTestFederation

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "xarf_v4_required.schema.json").read_text()
)
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the test keys are valid from now
HOTLINE = {"org": "Fictitious Hotline HR", "contact": "notices@hotline.example.org",
           "domain": "hotline.example.org"}  # fmt: skip


def _report(url: str, *hashes: int, legal: int | None = None) -> UrlReport:
    media = [ReportedMedia(sha256=media_hash(n), classification="ILLEGAL_WORLDWIDE", category="A")
             for n in hashes]  # fmt: skip
    if legal is not None:
        media.append(ReportedMedia(sha256=media_hash(legal), classification="NOT_ILLEGAL"))
    return UrlReport(reporting_hotline="HR-CNZD", analyst="a1", url=url, host_country="NL",
                     hosting_provider="Example Hosting B.V.", media=tuple(media))  # fmt: skip


@pytest.fixture
def fed() -> UnsafeTestFederation:
    return UnsafeTestFederation.create(agencies=["HR-CNZD", "EUROPOL"])


def test_notice_life_cycle_issued_resent_removed_reappeared_each_step_audited(
    fed: UnsafeTestFederation,
) -> None:
    events: list[AuditEvent] = []
    book = NoticeBook.open(":memory:", issuer="HR-CNZD", audit=events.append)
    me = fed.identity("HR-CNZD")
    first = book.issue(_report("https://a.example.net/x", 1, 2, legal=3), identity=me, now=T0)
    assert first.state == "OPEN" and first.sends == 1
    assert first.hashes == tuple(sorted(f"sha256:{media_hash(n)}" for n in (1, 2)))  # no legal item

    # Still online 12 h later: not yet due. 24 h after the last send: re-sent, twice.
    assert book.recheck(first.notice_id, online=True, now=T0 + dt.timedelta(hours=12)).sends == 1
    assert book.resend_due(T0 + dt.timedelta(hours=24)) == [first.notice_id]
    assert book.recheck(first.notice_id, online=True, now=T0 + dt.timedelta(hours=48)).sends == 3
    removed = book.recheck(first.notice_id, online=False, now=T0 + dt.timedelta(hours=60))
    assert removed.state == "REMOVED" and removed.time_to_removal == dt.timedelta(hours=60)
    with pytest.raises(NoticeError):
        book.recheck(first.notice_id, online=True, now=T0 + dt.timedelta(hours=61))

    # One of the same hashes is reported again, at another URL: a re-upload.
    again = book.issue(
        _report("https://b.example.net/y", 2), identity=me, now=T0 + dt.timedelta(days=5)
    )
    assert again.reappearance_of == first.notice_id
    assert book.get(first.notice_id).state == "REAPPEARED"
    assert [s for _, s, _ in book.steps(first.notice_id)] == [
        "ISSUED", "RESENT", "RESENT", "REMOVED", "REAPPEARED"
    ]  # fmt: skip
    audited = [(e.kind, e.ref, e.outcome) for e in events]
    assert audited == [
        (AuditKind.NOTICE, first.notice_id, "ISSUED"),
        (AuditKind.NOTICE, first.notice_id, "RESENT"),
        (AuditKind.NOTICE, first.notice_id, "RESENT"),
        (AuditKind.NOTICE, first.notice_id, "REMOVED"),
        (AuditKind.NOTICE, first.notice_id, "REAPPEARED"),
        (AuditKind.NOTICE, again.notice_id, "ISSUED"),
    ]
    assert all(e.actor == "HR-CNZD" and e.reason == "Example Hosting B.V." for e in events)

    rows = {(r.by, r.key): r for r in removal_report(book.notices(), now=T0 + dt.timedelta(days=6))}
    nl = rows[("country", "NL")]
    assert (nl.open, nl.closed, nl.median_days, nl.reappearances) == (1, 1, 2.5, 1)
    assert "<svg" in removal_svg(book.notices())


def test_no_notice_for_a_report_with_nothing_illegal(fed: UnsafeTestFederation) -> None:
    book = NoticeBook.open(":memory:", issuer="HR-CNZD")
    with pytest.raises(NoticeError):
        book.issue(_report("https://c.example.net/z", legal=9), identity=fed.identity("HR-CNZD"),
                   now=T0)  # fmt: skip


def test_tampered_notice_url_is_refused_by_signature_check(fed: UnsafeTestFederation) -> None:
    book = NoticeBook.open(":memory:", issuer="HR-CNZD")
    notice = book.issue(_report("https://a.example.net/x", 1), identity=fed.identity("HR-CNZD"),
                        now=T0)  # fmt: skip
    assert verify_notice(notice.signed, trust=fed.trust)["url"] == "https://a.example.net/x"
    forged = notice.signed.replace(b"a.example.net", b"b.example.net")
    with pytest.raises(SignatureError):
        verify_notice(forged, trust=fed.trust)


def test_xarf_export_validates_and_carries_hashes_only(fed: UnsafeTestFederation) -> None:
    book = NoticeBook.open(":memory:", issuer="HR-CNZD")
    notice = book.issue(_report("https://a.example.net/x", 1, 2), identity=fed.identity("HR-CNZD"),
                        now=T0)  # fmt: skip
    doc = to_xarf(notice, reporter=HOTLINE)
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    assert list(validator.iter_errors(doc)) == []
    assert (doc["category"], doc["type"], doc["source_identifier"]) == (
        "content", "csam", "a.example.net"
    )  # fmt: skip
    (evidence,) = doc["evidence"]
    assert verify_notice(base64.b64decode(evidence["payload"]), trust=fed.trust)["hashes"] == list(
        notice.hashes
    )
    # Missing a required field is caught by the same validator.
    del doc["sender"]
    assert [e.validator for e in validator.iter_errors(doc)] == ["required"]
