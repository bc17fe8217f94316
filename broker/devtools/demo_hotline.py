"""The demo's hotline step: hotlines join the RUNNING federation and chase content down.

While the router and the hub (separate processes, following the registry with
:class:`~broker.trust.live.LiveTrust`) are running, HR-CNZD (Croatia) and NL-MELD
(the Netherlands) join as hotlines; analysts of both confirm a few hashes
(the two-analyst rule puts them on the hub's shared list); HR-CNZD reports a few
hundred synthetic URLs under ``example.net`` — items already on the shared list are
classified automatically — and the router takes each report to the hotline of the
hosting country, or to the hub; NL-MELD keeps the reports routed to it, issues
signed notices, re-sends them every 24 h (simulated days), records removals and one
reappearance, and prints the removal report. All data is fictitious.

Example::

    hotline = await run_hotline_step(settings, conn_for=cluster.connection, say=print)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.agency import AgencyNode, Delivery
from broker.audit.events import AuditEvent
from broker.config import Settings
from broker.connect import connection_for
from broker.federation import add_agency
from broker.hashlist import ListFollower, ListState, publish_updates
from broker.hotline.confirm import assessment, plan_shared
from broker.hotline.desk import HotlineDesk
from broker.hotline.metrics import RemovalRow, format_rows, removal_report, removal_svg
from broker.hotline.notices import NoticeBook, book_path
from broker.hotline.report import (
    KIND,
    ReportedMedia,
    UrlReport,
    classify_known,
    report_codes,
    route_report,
)
from broker.synthetic import media_hash
from broker.topics import HUB, TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_identity, load_trust

__all__ = ["HotlineDemoResult", "run_hotline_step"]

HOTLINES = {"HR-CNZD": "HR", "NL-MELD": "NL"}
#: Fictitious hosting providers by country (US: no member hotline, so the hub gets those).
PROVIDERS = {
    "HR": ["Jadran Hosting d.o.o. (fictitious)"],
    "NL": ["Example Hosting B.V.", "Polder Cloud (fictitious)"],
    "US": ["Example Host Inc."],
}
URLS = 300
#: Simulated days of daily re-checks (past Arachnid's 42-day mark).
DAYS = 45
KEEP_IDLE_S = 180.0  # NL-MELD's inbox: stop waiting after this long without a record


@dataclass
class HotlineDemoResult:
    """What the hotline step measured."""

    reports: int = 0
    routed: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    auto_classified: int = 0
    shared_confirmed: int = 0
    shared_quarantined: int = 0
    notices: int = 0
    removed: int = 0
    reappearances: int = 0
    rows: list[RemovalRow] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every report routed to NL-MELD was kept and the life cycle completed."""
        return (
            self.kept == self.routed.get("NL-MELD", -1)
            and self.reappearances == 1
            and self.removed > 0
        )


async def _confirm(settings: Settings, conn: KafkaConnection) -> tuple[ListState, int, int]:
    """Analysts of both hotlines assess hashes 1..40; the hub publishes the shared list."""
    layout = TopicLayout(prefix=settings.topic_prefix)
    ids = {a: load_identity(settings, agency=a) for a in [*HOTLINES, HUB]}
    updates: dict[str, list[Any]] = {a: [] for a in HOTLINES}
    for n in range(1, 41):
        for who, analyst in (("HR-CNZD", "hr-analyst-1"), ("NL-MELD", "nl-analyst-4")):
            if who == "NL-MELD" and n > 30:
                continue  # 31-40: only one member confirmed: pending
            illegal = not (who == "NL-MELD" and n in (7, 19))  # two disputes: quarantined
            updates[who].append(
                assessment(member=who, key_id=ids[who].signing.key_id, analyst=analyst,
                           sha256=media_hash(90_000 + n), illegal=illegal, category="A")
            )  # fmt: skip
    await asyncio.gather(
        *(
            publish_updates(conn, layout=layout, identity=ids[w], updates=u)
            for w, u in updates.items()
        )
    )
    # One follower (the hub's curator view, and HR-CNZD's own copy after the verdicts).
    state = ListState(sqlite3.connect(":memory:", isolation_level=None), snapshot=None)
    async with ListFollower(
        conn=conn, layout=layout, state=state, trust=load_trust(settings), agency=HUB
    ) as follower:
        await follower.catch_up(idle_s=0.5)
        shared = plan_shared(state, curator=HUB, key_id=ids[HUB].signing.key_id)
        await publish_updates(conn, layout=layout, identity=ids[HUB], updates=shared)
        await follower.catch_up(idle_s=0.5)
    added = sum(u.op == "ADD" for u in shared)
    return state, added, len(shared) - added


def _reports(rng: random.Random, lists: ListState) -> tuple[list[UrlReport], int]:
    out: list[UrlReport] = []
    auto = 0
    for i in range(URLS):
        # ICCAM: routed by where content is hosted. HR-hosted URLs stay with HR-CNZD.
        country = "US" if i % 10 == 0 else "NL" if i % 10 < 4 else "HR"
        items = [
            ReportedMedia(
                sha256=media_hash(90_000 + (i % 40) + 1 if j == 0 else 100_000 + i * 3 + j),
                classification="ILLEGAL_WORLDWIDE" if rng.random() < 0.8 else "NOT_ILLEGAL",
                category="A",
                origin="AI_GENERATED" if rng.random() < 0.15 else "REAL_VICTIM",
            )
            for j in range(2)
        ]
        classified = classify_known(items, lists)
        auto += sum(m.auto for m in classified)
        out.append(
            UrlReport(
                reporting_hotline="HR-CNZD",
                analyst="hr-analyst-1",
                url=f"https://cdn{i % 17}.example.net/gallery/{i:04d}.html",
                host_country=country,
                hosting_provider=rng.choice(PROVIDERS[country]),
                host_source="LOOKUP_TABLE",
                media=tuple(classified),
            )
        )
    return out, auto


async def _keep_reports(node: AgencyNode, book: NoticeBook, expected: int) -> int:
    desk = HotlineDesk(node=node, book=book)
    stop = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        await desk.on_delivery(delivery)
        if desk.kept >= expected:
            stop.set()

    # Ends when every routed report is kept, not on a short silence: on a loaded machine the
    # router may still be busy with the main demo's dossiers (a 20 s idle once ended with none).
    await node.consume(handler=handler, stop=stop, until_idle=KEEP_IDLE_S)
    if desk.kept < expected:
        raise TimeoutError(
            f"NL-MELD kept {desk.kept} of the {expected} reports routed to it "
            f"(nothing arrived for {KEEP_IDLE_S:.0f} s)"
        )
    return desk.kept


async def run_hotline_step(
    settings: Settings, *, say: Callable[[str], None] = print, seed: int = 17
) -> HotlineDemoResult:
    """Run the hotline step against the running demo federation; print and return its result."""
    started = time.monotonic()
    result = HotlineDemoResult()
    rng = random.Random(seed)  # noqa: S311 - deterministic demo data, not crypto
    layout = TopicLayout(prefix=settings.topic_prefix)
    say(f"== hotlines {', '.join(HOTLINES)} join the RUNNING federation (no restart)")
    for agency, country in HOTLINES.items():
        add_agency(settings, agency=agency, kind="hotline", country=country)
    admin = connection_for(settings, "admin")
    members = load_trust(settings).agency_ids()
    await ensure_topics(admin, layout=layout, agencies=members)
    conn = {a: connection_for(settings, a) for a in HOTLINES}

    say(f"   joined: topics created ({time.monotonic() - started:.1f} s)")
    lists, result.shared_confirmed, result.shared_quarantined = await _confirm(
        settings, conn["HR-CNZD"]
    )
    say(
        f"   two-analyst rule: {result.shared_confirmed} hashes confirmed by HR-CNZD and NL-MELD "
        f"on {HUB}'s shared list, {result.shared_quarantined} disputed (quarantined), 10 pending"
    )
    say(f"   ({time.monotonic() - started:.1f} s)")
    reports, result.auto_classified = _reports(rng, lists)
    result.reports = len(reports)
    trust = load_trust(settings)
    by_target: dict[str, list[UrlReport]] = {}
    for r in reports:
        target = route_report(trust.members(), host_country=r.host_country)
        by_target.setdefault(target, []).append(r)
    local = by_target.pop("HR-CNZD", [])  # hosted in its own country: stays with HR-CNZD
    async with AgencyNode.load(settings, agency="HR-CNZD", conn=conn["HR-CNZD"]) as hr:
        for target, batch in sorted(by_target.items()):
            await hr.publish_many(
                [r.to_bytes() for r in batch], kind=KIND, codes=report_codes(), to=[target]
            )
    result.routed = {t: len(b) for t, b in by_target.items()} | {"HR-CNZD (own)": len(local)}
    say(
        f"   HR-CNZD reported {result.reports} URLs under example.net "
        f"({result.auto_classified} items classified automatically from the shared list); "
        f"routed by hosting country: {dict(sorted(result.routed.items()))}"
    )

    nl = AgencyNode.load(settings, agency="NL-MELD", conn=conn["NL-MELD"])
    events: list[AuditEvent] = []

    # Every life-cycle step goes to NL-MELD's audit stream, journaled in one transaction below.
    book = NoticeBook.open(book_path(settings, "NL-MELD"), issuer="NL-MELD", audit=events.append)
    try:
        await nl.start()
        result.kept = await _keep_reports(nl, book, result.routed.get("NL-MELD", 0))
        say(f"   NL-MELD kept the reports routed to it ({time.monotonic() - started:.1f} s)")
        me = load_identity(settings, agency="NL-MELD")
        t0 = dt.datetime.now(dt.UTC)
        notices = [book.issue(r, identity=me, now=t0) for r in book.unnoticed()]
        result.notices = len(notices)
        # Re-checks, one simulated day at a time: most come down within days, a few take weeks.
        fate = {n.notice_id: rng.choice([1, 1, 1, 2, 2, 3, 3, 5, 9, 30, 44, None]) for n in notices}
        for day in range(1, DAYS + 1):
            now = t0 + dt.timedelta(days=day, minutes=5)
            for n in notices:
                if fate[n.notice_id] == day:  # the re-check finds it gone
                    book.recheck(n.notice_id, online=False, now=now)
            book.resend_due(now)  # still online 24 h after the last send: re-sent
        result.removed = sum(book.get(n.notice_id).state == "REMOVED" for n in notices)
        # One removed item is re-uploaded elsewhere and reported again: a reappearance.
        gone = next(n for n in notices if book.get(n.notice_id).state == "REMOVED")
        old = book.report(gone.report_id)
        again = UrlReport(
            reporting_hotline="HR-CNZD", analyst="hr-analyst-1",
            url="https://mirror3.example.net/re-upload/0001.html", host_country="NL",
            hosting_provider=old.hosting_provider, host_source="ANALYST", media=old.media,
        )  # fmt: skip
        book.keep(again, sender="HR-CNZD")
        book.issue(again, identity=me, now=t0 + dt.timedelta(days=DAYS + 1))
        result.reappearances = sum(1 for n in book.notices() if n.reappearance_of)
        result.rows = removal_report(book.notices(), now=t0 + dt.timedelta(days=DAYS + 1))
        nl.audit.record(*events)
        svg = settings.state_dir / "notice-removal.svg"
        svg.write_text(removal_svg(book.notices()))
    finally:
        book.close()
        await nl.close()
    result.seconds = time.monotonic() - started
    say(
        f"   NL-MELD kept {result.kept} reports, issued {result.notices} signed notices "
        f"({len(events)} audited steps), {result.removed} removed, "
        f"{result.reappearances} reappearance; chart {svg}"
    )
    for line in format_rows(result.rows):
        say("   " + line)
    say(f"   hotline step: {result.seconds:.1f} s")
    return result
