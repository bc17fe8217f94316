"""URL reports and member kinds without Kafka: the access matrix, the payload's validation,
routing by hosting country, misrouted reports, and automatic classification from a list."""

from __future__ import annotations

import sqlite3
import tempfile
from typing import Any

import pytest

from broker.config import Settings
from broker.errors import ConfigError, MisroutedReportError, ValidationError
from broker.federation import add_agency, init_federation
from broker.hashlist import Applied, ListState, ListUpdate
from broker.hotline.report import (
    ReportedMedia,
    UrlReport,
    check_routed,
    classify_known,
    route_report,
)
from broker.synthetic import media_hash
from broker.topics import MemberKind, message_allowed
from broker.trust import load_trust
from broker.trust.live import LiveTrust


def _report(country: str = "NL", **kw: Any) -> UrlReport:
    fields: dict[str, Any] = {
        "reporting_hotline": "HR-CNZD", "analyst": "a1", "url": "https://x.example.net/1",
        "host_country": country, "hosting_provider": "Example Hosting B.V.",
        "media": (ReportedMedia(sha256=media_hash(1), classification="ILLEGAL_NATIONALLY"),
                  ReportedMedia(md5="0" * 32, classification="NOT_ILLEGAL")),
    } | kw  # fmt: skip
    return UrlReport(**fields)


def test_police_dossier_to_a_hotline_is_not_allowed_but_reports_and_hits_are() -> None:
    police, hub, hotline = MemberKind.POLICE, MemberKind.HUB, MemberKind.HOTLINE
    assert not message_allowed(police, hotline, "DOSSIER")
    assert not message_allowed(hub, hotline, "DOSSIER")
    assert not message_allowed(hotline, police, "URL_REPORT")
    assert not message_allowed(hotline, hub, "DOSSIER")
    assert message_allowed(hotline, hotline, "URL_REPORT")
    assert message_allowed(hotline, hub, "URL_REPORT")
    assert message_allowed(hub, hotline, "HIT_NOTIFICATION")
    assert message_allowed(police, police, "DOSSIER")


def test_report_round_trips_and_overall_classification_is_the_most_severe() -> None:
    report = _report()
    assert report.classification == "ILLEGAL_NATIONALLY"
    assert UrlReport.from_bytes(report.to_bytes()) == report


@pytest.mark.parametrize(
    "bad",
    [{"url": "ftp://x"}, {"host_country": "Croatia"}, {"media": ()}, {"analyst": "a b"},
     {"report_id": "XYZ"}, {"hosting_provider": " "}],
)  # fmt: skip
def test_malformed_reports_are_refused_with_a_validation_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _report(**bad)


def test_report_with_media_content_instead_of_a_hash_is_refused() -> None:
    with pytest.raises(ValidationError):
        ReportedMedia(sha256="not-a-hash", classification="ILLEGAL_WORLDWIDE")


def test_hotline_member_kind_is_signed_and_followed_live_routing_by_host_country() -> None:
    settings = Settings(home=tempfile.mkdtemp())
    init_federation(settings, agencies=["ES-PN", "EUROPOL"])
    live = LiveTrust.watch(settings, interval=0.0)
    with pytest.raises(ConfigError):
        add_agency(settings, agency="HR-CNZD", kind="hotline")  # no country
    add_agency(settings, agency="HR-CNZD", kind="hotline", country="HR")
    add_agency(settings, agency="NL-MELD", kind="hotline", country="NL")
    members = live.members()
    assert (members["HR-CNZD"].kind, members["ES-PN"].kind) == (
        MemberKind.HOTLINE,
        MemberKind.POLICE,
    )
    assert load_trust(settings).member("EUROPOL").kind is MemberKind.HUB
    assert route_report(members, host_country="NL") == "NL-MELD"
    assert route_report(members, host_country="US") == "EUROPOL"
    report = _report("NL")
    check_routed(report, sender="HR-CNZD", me=members["NL-MELD"], members=members)
    with pytest.raises(MisroutedReportError):  # hosted in NL: not for the hub
        check_routed(report, sender="HR-CNZD", me=members["EUROPOL"], members=members)
    with pytest.raises(MisroutedReportError):  # signed by another hotline than it names
        check_routed(report, sender="NL-MELD", me=members["NL-MELD"], members=members)


def test_items_on_a_followed_list_are_classified_automatically() -> None:
    state = ListState(sqlite3.connect(":memory:", isolation_level=None), snapshot=None)
    known = ListUpdate(list="shared-known", owner="EUROPOL", key_id="k", entry_id="e1",
                       version=1, op="ADD", sha256=media_hash(1), category="A")  # fmt: skip
    state.apply([Applied(topic="fed.hashlist.EUROPOL.shared-known", partition=0, offset=0,
                         update=known)])  # fmt: skip
    items = [ReportedMedia(sha256=media_hash(1), classification="NOT_ILLEGAL"),
             ReportedMedia(sha256=media_hash(2), classification="NOT_ILLEGAL")]  # fmt: skip
    first, second = classify_known(items, state)
    assert (first.auto, first.classification, first.category) == (True, "ILLEGAL_WORLDWIDE", "A")
    assert first.list_entry == "EUROPOL/shared-known/e1"
    assert second == items[1]
