"""``broker notice``: a hotline's takedown notices (intake, issue, re-check, export, report)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import typer

from broker.agency import AgencyNode
from broker.audit.events import AuditEvent
from broker.audit.writer import AuditSink
from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.connect import connection_for
from broker.hotline.desk import HotlineDesk
from broker.hotline.metrics import as_json as rows_json
from broker.hotline.metrics import format_rows, removal_report, removal_svg
from broker.hotline.notices import NoticeBook, book_path
from broker.hotline.xarf import to_xarf
from broker.trust import load_identity
from broker.trust.live import LiveTrust

__all__ = ["app"]

app = typer.Typer(
    help="A hotline's takedown notices: signed, hash-only, re-sent every 24 h until removed.",
    no_args_is_help=True,
)
AsOption = typer.Option(..., "--as", help="The hotline's agency id, e.g. NL-MELD.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _run_with_audit(home: Path | None, agency: str, step: Callable[[NoticeBook], None]) -> None:
    """Run ``step(book)`` with every life-cycle event journaled to the hotline's audit stream."""
    settings = settings_for(home)

    async def main() -> None:
        node = AgencyNode.load(settings, agency=agency, conn=connection_for(settings, agency))
        events: list[AuditEvent] = []
        book = NoticeBook.open(book_path(settings, agency), issuer=agency, audit=events.append)
        try:
            step(book)
        finally:
            book.close()
            async with node:
                AuditSink(node.audit_log).record(*events)

    asyncio.run(main())


@app.command()
def intake(
    agency: str = AsOption,
    until_idle: float = typer.Option(5.0, "--until-idle", help="Exit after this many idle s."),
    home: Path | None = HomeOption,
) -> None:
    """Consume the hotline's inbox: keep each URL report routed to it (misrouted: refused)."""
    settings = settings_for(home)

    async def main() -> None:
        conn = connection_for(settings, agency)
        node = AgencyNode.load(settings, agency=agency, conn=conn, trust=LiveTrust.watch(settings))
        book = NoticeBook.open(book_path(settings, agency), issuer=agency)
        desk = HotlineDesk(node=node, book=book)
        try:
            async with node:
                stats = await node.consume(handler=desk.on_delivery, until_idle=until_idle)
        finally:
            book.close()
        typer.echo(f"{agency}: kept {desk.kept} URL report(s), rejected {stats.rejected}")

    asyncio.run(main())


@app.command()
def issue(
    agency: str = AsOption,
    report_ids: list[str] = typer.Argument(
        None, help="Kept report ids (default: every one with illegal items and no notice yet)."
    ),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Issue a signed, hash-only notice per report (a reappearance if its hashes were removed)."""
    identity = load_identity(
        settings_for(home), agency=agency, passphrase=passphrase_from(passphrase_env)
    )

    def step(book: NoticeBook) -> None:
        reports = [book.report(r) for r in report_ids] if report_ids else book.unnoticed()
        for report in reports:
            n = book.issue(report, identity=identity, now=_now())
            again = f" (reappearance of {n.reappearance_of})" if n.reappearance_of else ""
            typer.echo(f"{n.notice_id} {n.provider} {n.url}{again}")

    _run_with_audit(home, agency, step)


@app.command()
def recheck(
    notice_id: str = typer.Argument(...),
    agency: str = AsOption,
    online: bool = typer.Option(
        ..., "--online/--offline", help="What the re-check found at the URL."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Record a re-check: offline closes the notice (REMOVED); online re-sends it if 24 h passed."""

    def step(book: NoticeBook) -> None:
        n = book.recheck(notice_id, online=online, now=_now())
        typer.echo(f"{n.notice_id}: {n.state}, sent {n.sends} time(s)")

    _run_with_audit(home, agency, step)


@app.command()
def resend(agency: str = AsOption, home: Path | None = HomeOption) -> None:
    """Re-send every open notice last sent 24 hours or more ago (run it daily)."""

    def step(book: NoticeBook) -> None:
        typer.echo(f"re-sent {len(book.resend_due(_now()))} notice(s)")

    _run_with_audit(home, agency, step)


@app.command()
def export(
    notice_id: str = typer.Argument(...),
    agency: str = AsOption,
    fmt: str = typer.Option("xarf", "--format", help="xarf (XARF v4 JSON) or signed (raw bytes)."),
    org: str = typer.Option("Hotline (fictitious)", "--org", help="XARF reporter org."),
    contact: str = typer.Option("notices@hotline.example.org", "--contact"),
    domain: str = typer.Option("hotline.example.org", "--domain"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here (default: stdout)."),
    home: Path | None = HomeOption,
) -> None:
    """Export a notice for the hotline's mail or API channel (hash-only; signed evidence)."""
    book = NoticeBook.open(book_path(settings_for(home), agency), issuer=agency)
    try:
        notice = book.get(notice_id)
    finally:
        book.close()
    if fmt == "signed":
        data = notice.signed
    elif fmt == "xarf":
        doc = to_xarf(notice, reporter={"org": org, "contact": contact, "domain": domain})
        data = (json.dumps(doc, indent=2) + "\n").encode()
    else:
        raise typer.BadParameter("--format must be xarf or signed")
    if out is None:
        typer.echo(data.decode() if fmt == "xarf" else data.hex())
    else:
        out.write_bytes(data)


@app.command()
def report(
    agency: str = AsOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    svg: Path | None = typer.Option(None, "--svg", help="Write the time-to-removal chart here."),
    home: Path | None = HomeOption,
) -> None:
    """Per provider and country: open/closed, median and p90 days to removal, >42 d, reappeared."""
    book = NoticeBook.open(book_path(settings_for(home), agency), issuer=agency)
    try:
        notices = book.notices()
    finally:
        book.close()
    rows = removal_report(notices, now=_now())
    if svg is not None:
        svg.write_text(removal_svg(notices))
    if as_json:
        typer.echo(json.dumps(rows_json(rows), indent=2))
        return
    for line in format_rows(rows):
        typer.echo(line)
