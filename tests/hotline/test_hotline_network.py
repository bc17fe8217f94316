"""Hotlines on the real broker: one joins a RUNNING federation (router and hub keep
running), a police dossier addressed to it is dead-lettered, and URL reports go to the
hotline covering the hosting country, or to the hub when none does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.agency import AgencyNode, Delivery
from broker.codec import SchemaStore
from broker.config import Settings
from broker.deadletter import DeadLetter
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA
from broker.federation import add_agency, init_federation
from broker.hotline.report import (
    KIND,
    ReportedMedia,
    UrlReport,
    check_routed,
    report_codes,
    route_report,
)
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier, media_hash
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust.live import LiveTrust
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.kafka

FOUNDERS = ["ES-PN", "NL-MELD", "EUROPOL"]


def _report(sender: str, country: str, n: int) -> UrlReport:
    item = ReportedMedia(sha256=media_hash(n), classification="ILLEGAL_WORLDWIDE", category="A")
    return UrlReport(
        reporting_hotline=sender,
        analyst="analyst-1",
        url=f"https://files{n}.example.net/a/{n}.jpg",
        host_country=country,
        hosting_provider=f"Example Hosting {country}",
        media=(item,),
    )


def _header_kind(value: bytes) -> str:
    store = SchemaStore.default()
    header = store.decode(HEADER_SCHEMA, store.decode(ENVELOPE_SCHEMA, value)["header"])
    return str(header["kind"])


async def test_hotline_joins_running_federation_police_dossier_refused_reports_routed(
    tmp_path: Path, kafka_bootstrap: str, unique: str
) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}")
    init_federation(settings, agencies=["ES-PN", "EUROPOL"])
    add_agency(settings, agency="NL-MELD", kind="hotline", country="NL")
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=FOUNDERS, partitions=1)

    # The router and the hub's node are built BEFORE the hotline joins, and keep running.
    live = LiveTrust.watch(settings, interval=0.0)
    router = Router(
        conn=conn,
        layout=layout,
        check=EnvelopeCheck(trust=live),
        transactional_id=f"{layout.router_group}.test",
    )
    hub = AgencyNode.load(settings, agency="EUROPOL", conn=conn, trust=LiveTrust.watch(settings))
    stop = asyncio.Event()
    routing = asyncio.create_task(router.run(stop=stop))
    try:
        async with AgencyNode.load(settings, agency="ES-PN", conn=conn) as es:
            first = await es.publish_dossier(example_dossier(1), to=["EUROPOL"])
        await read_all(conn, layout.inbox("EUROPOL"), expect=1)  # the router is running

        # HR-CNZD joins the running federation: keys, signed profile, topics.
        add_agency(settings, agency="HR-CNZD", kind="hotline", country="HR")
        await ensure_topics(conn, layout=layout, agencies=[*FOUNDERS, "HR-CNZD"], partitions=1)
        assert live.member("HR-CNZD").country == "HR"

        async with AgencyNode.load(settings, agency="ES-PN", conn=conn) as es:
            refused = await es.publish_dossier(example_dossier(2), to=["HR-CNZD"])
        # A report by the new hotline of content hosted in NL goes to NL-MELD; one hosted
        # where no member hotline operates goes to the hub.
        members = live.members()
        to_nl = _report("HR-CNZD", "NL", 1)
        to_hub = _report("HR-CNZD", "US", 2)
        assert route_report(members, host_country="NL") == "NL-MELD"
        assert route_report(members, host_country="US") == "EUROPOL"
        async with AgencyNode.load(settings, agency="HR-CNZD", conn=conn) as hr:
            for report in (to_nl, to_hub):
                target = route_report(members, host_country=report.host_country)
                await hr.publish(report.to_bytes(), kind=KIND, codes=report_codes(), to=[target])

        letters = await read_all(conn, layout.rejected("ES-PN"), expect=1, timeout=60)
        nl_inbox = await read_all(conn, layout.inbox("NL-MELD"), expect=1, timeout=60)
        hub_inbox = await read_all(conn, layout.inbox("EUROPOL"), expect=2, timeout=60)
    finally:
        stop.set()
        await routing

    (letter,) = [DeadLetter.from_bytes(v) for v in letters]
    assert letter.reason == "kind-not-allowed" and letter.stage == "ROUTER"
    assert letter.envelope_id == refused.envelope_id
    assert await read_all(conn, layout.inbox("HR-CNZD"), expect=0, timeout=1) == []
    assert [_header_kind(v) for v in nl_inbox] == [KIND]
    assert sorted(_header_kind(v) for v in hub_inbox) == ["DOSSIER", KIND]

    # The hub (node loaded before the hotline existed) verifies the newcomer's report.
    got: list[Delivery] = []

    async def on_delivery(delivery: Delivery) -> None:
        got.append(delivery)

    async with hub:
        await hub.consume(handler=on_delivery, until_idle=2.0, send_receipts=False)
    reports = [UrlReport.from_bytes(d.opened.payload) for d in got if d.opened.header.kind == KIND]
    assert [r.report_id for r in reports] == [to_hub.report_id]
    assert {d.envelope_id for d in got} >= {first.envelope_id}
    check_routed(reports[0], sender="HR-CNZD", me=live.member("EUROPOL"), members=live.members())
