"""A notice's whole life on the real broker: URL reports travel HR-CNZD -> router -> NL-MELD,
whose desk keeps them (a misrouted one is dead-lettered ``misrouted-report``); NL-MELD issues
a signed notice, re-sends it, records its removal, and a re-upload of the same hash at another
URL marks it REAPPEARED — every step journaled in NL-MELD's audit stream; the XARF export
validates."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from broker import home
from broker.agency import AgencyNode
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.journal import AuditJournal
from broker.config import Settings
from broker.federation import add_agency, init_federation
from broker.hotline.desk import HotlineDesk
from broker.hotline.notices import NoticeBook, book_path
from broker.hotline.report import KIND, ReportedMedia, UrlReport, report_codes
from broker.hotline.xarf import to_xarf
from broker.router import EnvelopeCheck, Router
from broker.synthetic import media_hash
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_identity
from broker.trust.live import LiveTrust
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.kafka

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "xarf_v4_required.schema.json").read_text()
)


def _report(url: str, country: str, *ns: int) -> UrlReport:
    media = tuple(
        ReportedMedia(sha256=media_hash(n), classification="ILLEGAL_WORLDWIDE", category="A")
        for n in ns
    )
    return UrlReport(reporting_hotline="HR-CNZD", analyst="a1", url=url, host_country=country,
                     hosting_provider="Example Hosting B.V.", media=media)  # fmt: skip


async def _send(
    settings: Settings, conn: KafkaConnection, *reports: UrlReport, in_inbox: int
) -> None:
    """Publish ``reports`` to NL-MELD and route until its inbox holds ``in_inbox`` records."""
    async with AgencyNode.load(settings, agency="HR-CNZD", conn=conn) as hr:
        for r in reports:
            await hr.publish(r.to_bytes(), kind=KIND, codes=report_codes(), to=["NL-MELD"])
    layout = TopicLayout(prefix=settings.topic_prefix)
    router = Router(conn=conn, layout=layout, check=EnvelopeCheck(trust=LiveTrust.watch(settings)),
                    transactional_id=f"{layout.router_group}.test")  # fmt: skip
    stop = asyncio.Event()
    routing = asyncio.create_task(router.run(stop=stop))
    try:
        await read_all(conn, layout.inbox("NL-MELD"), expect=in_inbox, timeout=90)
    finally:
        stop.set()
        await routing


async def test_notice_life_cycle_over_the_real_broker_is_audited_and_exports_valid_xarf(
    tmp_path: Path, kafka_bootstrap: str, unique: str
) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}")
    init_federation(settings, agencies=["ES-PN", "EUROPOL"])
    add_agency(settings, agency="HR-CNZD", kind="hotline", country="HR")
    add_agency(settings, agency="NL-MELD", kind="hotline", country="NL")
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=["ES-PN", "EUROPOL", "HR-CNZD", "NL-MELD"])

    first = _report("https://a.example.net/1.html", "NL", 1, 2)
    misrouted = _report("https://b.example.net/2.html", "US", 3)  # for the hub, not NL-MELD
    await _send(settings, conn, first, misrouted, in_inbox=2)
    nl = AgencyNode.load(settings, agency="NL-MELD", conn=conn, trust=LiveTrust.watch(settings))
    current = [nl]  # the open node whose audit stream records each life-cycle step
    book = NoticeBook.open(
        book_path(settings, "NL-MELD"), issuer="NL-MELD", audit=lambda e: current[0].audit.record(e)
    )
    me = load_identity(settings, agency="NL-MELD")
    t0 = dt.datetime.now(dt.UTC)
    async with nl:
        desk = HotlineDesk(node=nl, book=book)
        stats = await nl.consume(handler=desk.on_delivery, until_idle=5.0)
        assert (desk.kept, stats.rejected, stats.reasons) == (1, 1, {"misrouted-report": 1})
        (kept,) = book.unnoticed()
        notice = book.issue(kept, identity=me, now=t0)
        book.resend_due(t0 + dt.timedelta(hours=24))
        book.recheck(notice.notice_id, online=False, now=t0 + dt.timedelta(hours=30))

    # The same hash, re-uploaded at another URL and reported again.
    reupload = _report("https://mirror.example.net/9.html", "NL", 2)
    await _send(settings, conn, reupload, in_inbox=3)
    nl = current[0] = AgencyNode.load(settings, agency="NL-MELD", conn=conn)
    async with nl:
        await nl.consume(handler=HotlineDesk(node=nl, book=book).on_delivery, until_idle=5.0)
        again = book.issue(
            book.report(reupload.report_id), identity=me, now=t0 + dt.timedelta(days=3)
        )
    assert again.reappearance_of == notice.notice_id
    assert [s for _, s, _ in book.steps(notice.notice_id)] == [
        "ISSUED", "RESENT", "REMOVED", "REAPPEARED"
    ]  # fmt: skip

    journal = AuditJournal.open(home.audit_journal(settings, "NL-MELD"), stream="NL-MELD")
    try:
        events = [AuditEvent.from_bytes(b) for b in journal.events()]
    finally:
        journal.close()
    steps = [(e.ref, e.outcome) for e in events if e.kind is AuditKind.NOTICE]
    assert steps == [
        (notice.notice_id, "ISSUED"), (notice.notice_id, "RESENT"), (notice.notice_id, "REMOVED"),
        (notice.notice_id, "REAPPEARED"), (again.notice_id, "ISSUED"),
    ]  # fmt: skip

    doc = to_xarf(book.get(again.notice_id), reporter={
        "org": "Fictitious Hotline NL", "contact": "n@hotline.example.org",
        "domain": "hotline.example.org"})  # fmt: skip
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    assert list(validator.iter_errors(doc)) == []
    book.close()
