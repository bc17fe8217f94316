"""The console in a real browser (the distribution's headless Chromium) on the real Kafka.

An analyst watches a dossier arrive live, finds it by a selector, sees the H2 banner,
grants one release request and denies another; the hub's page then shows the released
hit. An auditor sees the log OK, then the finding of a record slipped into ``fed.audit``.
No page reports an error in the browser console.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page

from broker.audit.auditor import flush_stream
from broker.audit.events import FEDERATION_STREAM, ROUTER_STREAM
from broker.audit.findings import FindingKind
from broker.audit.replay import read_topic
from broker.audit.writer import load_audit_log
from broker.hub import Hub
from broker.router import EnvelopeCheck, Router
from broker.topics import HUB
from broker.trust import load_trust
from tests.audit import tamper
from tests.console.browser import PATIENCE_MS, ConsoleProcess, Errors, headless
from tests.hub.live import Fed, dossier

pytestmark = pytest.mark.kafka
LIVE_PHONE = "+34600111222"
OTHER_PHONE = "+34600333444"


async def _reload_until(page: Page, url: str, selector: str, *, count: int = 1) -> None:
    """Open ``url`` again until ``selector`` is on it ``count`` times (it arrives via Kafka)."""
    for _ in range(120):
        await page.goto(url)
        if await page.locator(selector).count() >= count:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"{selector} never appeared on {url}")


async def _until_answered(fed: Fed, request_ids: list[str]) -> None:
    """Route and run the hub until it has taken the owner's answers to ``request_ids``."""
    for _ in range(30):
        router = Router(
            conn=fed.conn,
            layout=fed.layout,
            check=EnvelopeCheck(trust=load_trust(fed.settings)),
            transactional_id=f"{fed.layout.router_group}.hubtest",
            audit=load_audit_log(fed.settings, stream=ROUTER_STREAM, conn=fed.conn),
        )
        await router.run(until_idle=1.5)
        async with fed.node(HUB) as node:
            hub = Hub(node=node, index=fed.index)
            await node.consume(handler=hub.on_delivery, until_idle=1.5, send_receipts=False)
        answers = [(fed.index.release_request(r) or {}).get("status") for r in request_ids]
        if answers == ["GRANTED"] * len(request_ids):
            return
    raise AssertionError(f"the hub never took the answers to {request_ids}")


async def test_analyst_watches_a_dossier_arrive_finds_it_grants_and_the_hub_shows_the_release(
    fed: Fed, console_env: dict[str, str]
) -> None:
    errors = Errors()
    async with (
        ConsoleProcess(["--as", "ES-PN", "--follow"], env=console_env) as es,
        ConsoleProcess(["--as", "EUROPOL"], env=console_env) as hub_console,
        headless() as browser,
    ):
        page = errors.watch(await browser.new_page())
        await page.goto(es.login_url)
        assert page.url == es.url("/inbox")
        assert await page.locator("#inbox tbody tr").count() == 0

        # A restricted dossier (H2, TLP:RED) arrives while the analyst looks at the inbox.
        async with fed.node("DE-BKA") as de:
            live = await de.publish_dossier(
                dossier(7, restricted=True, phone=LIVE_PHONE), to=["ES-PN"]
            )
        await fed.route(expect=1)
        row = page.locator(f"#inbox tr[data-id='{live.envelope_id}']")
        await row.wait_for(timeout=PATIENCE_MS)  # no reload: the page updated itself
        assert "new" in (await row.get_attribute("class") or "")

        # Found by its selector (and only it), opened: the H2 banner.
        await page.fill("#selector", LIVE_PHONE)
        await page.click("#search")
        assert await page.locator("#inbox tbody tr").count() == 1
        await row.locator("a").click()
        banners = await page.locator(".banner").all_inner_texts()
        assert banners and banners[0].startswith("H2:")
        assert any(b.startswith("TLP:RED") for b in banners)
        assert await page.locator(".tlp-red").count() == 1

        # The hub finds two restricted holdings of ES-PN held by DE-BKA too: ES-PN is asked twice.
        async with fed.node("ES-PN") as es_node:
            await es_node.publish_dossier(dossier(1, restricted=True), to=["EUROPOL"])
            await es_node.publish_dossier(
                dossier(4, restricted=True, phone=OTHER_PHONE), to=["EUROPOL"]
            )
        async with fed.node("DE-BKA") as de:
            await de.publish_dossier(dossier(2, restricted=False), to=["EUROPOL"])
            await de.publish_dossier(
                dossier(5, restricted=False, phone=OTHER_PHONE), to=["EUROPOL"]
            )
        await fed.route(expect=4)
        await fed.hub(expect=4)
        await fed.route(expect=6)
        await _reload_until(page, es.url("/hits"), "#requests button.grant", count=2)
        granted, denied = [
            (await row.get_attribute("id") or "").removeprefix("req-")
            for row in await page.locator("#requests tbody tr").all()
        ]
        assert "DE-BKA" in await page.locator(f"#req-{granted}").inner_text()
        async with page.expect_navigation():
            await page.locator(f"#req-{granted} button.grant").click()
        assert page.url.startswith(es.url("/hits")), await page.content()
        assert await page.locator(f"#req-{granted} .decision").inner_text() == "granted to DE-BKA"
        async with page.expect_navigation():
            await page.locator(f"#req-{denied} button.deny").click()
        decision = await page.locator(f"#req-{denied} .decision").inner_text()
        assert decision == "denied (released to nobody)"

        # The signed answers reach the hub, which releases one hit; the hub's page shows it.
        await _until_answered(fed, [granted, denied])
        assert (fed.index.release_request(granted) or {}).get("released_to") == "DE-BKA"
        assert (fed.index.release_request(denied) or {}).get("released_to") == ""
        hub_page = errors.watch(await browser.new_page())
        await hub_page.goto(hub_console.login_url)
        await hub_page.goto(hub_console.url("/hub"))
        released = hub_page.locator("#released tbody tr")
        assert await released.count() == 1
        assert granted in await released.inner_text()
        assert (await hub_page.locator("#denied").inner_text()).startswith("1 request(s) denied")
        graph = await hub_page.locator("figure.graph").first.inner_text()
        assert "permission required" in graph  # the restricted holder is never named
        for path in ("/inbox", "/sent", "/hits"):
            await hub_page.goto(hub_console.url(path))
    assert errors == []


async def test_auditor_sees_ok_then_the_finding_of_a_tampered_record(
    fed: Fed, console_env: dict[str, str]
) -> None:
    await flush_stream(fed.settings, stream=FEDERATION_STREAM, conn=fed.conn)
    async with fed.node("ES-PN") as es_node:
        sent = await es_node.publish_dossier(dossier(3, restricted=False), to=["DE-BKA"])
    await fed.route(expect=1)
    await fed.received("DE-BKA", expect=1)
    errors = Errors()
    async with (
        ConsoleProcess(["--auditor"], env=console_env) as auditor,
        headless() as browser,
    ):
        page = errors.watch(await browser.new_page())
        await page.goto(auditor.login_url)
        assert page.url == auditor.url("/audit")
        assert (await page.locator("#verdict").inner_text()).startswith("OK")
        assert await page.locator("#findings tbody tr").count() == 0

        await page.goto(auditor.url(f"/audit/trail?dossier={sent.envelope_id}"))
        steps = await page.locator("#timeline li").all_inner_texts()
        assert any("PUBLISH" in s for s in steps) and any("OPEN" in s for s in steps)

        # An attacker who can write fed.audit slips in a forged event of ES-PN's stream.
        records = await read_topic(fed.conn, fed.layout.audit)
        rewritten = tamper.inject("ES-PN", 0)(records)
        (forged,) = [r for r in rewritten if r not in records]
        producer = fed.conn.producer()
        await producer.start()
        try:
            await producer.send_and_wait(
                fed.layout.audit, value=forged.value, key=forged.key, partition=forged.partition
            )
        finally:
            await producer.stop()

        await page.goto(auditor.url("/audit"))
        await page.click("#reverify")
        assert await page.locator("#verdict").inner_text() == "FAILED"
        rows = [
            await row.locator("td").all_inner_texts()
            for row in await page.locator("#findings tbody tr").all()
        ]
        # kind, stream, seq, partition:offset (where the forged record sits), detail
        assert [r[:2] for r in rows if r[0] == FindingKind.INJECTED.value] == [
            [FindingKind.INJECTED.value, "ES-PN"]
        ], rows
        assert all(r[3] for r in rows if r[0] == FindingKind.INJECTED.value)
        async with page.expect_download() as download:
            await page.click("a[href='/audit/report.json']")
        assert (await download.value).suggested_filename == "audit-report.json"
    assert errors == []
