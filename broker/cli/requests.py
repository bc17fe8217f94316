"""The request commands: request, reply, refuse, cases, case show, deadlines.

Deadlines need no command: the agency's running ``broker inbox`` reminds and
escalates (:mod:`broker.requests.deadlines`); ``broker deadlines`` only shows them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from broker.agency import AgencyNode
from broker.agency.store import AgencyStore
from broker.audit.deadlines import deadline_statistics
from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.cli.audit import ArchiveOption
from broker.cli.audit import _load as load_audit
from broker.cli.audit import app as audit_app
from broker.config import Settings
from broker.connect import connection_for
from broker.errors import ValidationError
from broker.home import agency_db
from broker.models import validate_dossier_json
from broker.requests import (
    InformationRequest,
    RefusalGround,
    RequestDesk,
    RequestStore,
    Urgency,
    case_list,
    deadline_table,
    find_case,
    requests_db,
)

__all__ = ["case_app", "cases", "deadlines", "refuse", "register", "reply", "request"]

case_app = typer.Typer(help="One case thread.", no_args_is_help=True)
T = TypeVar("T")
_GROUNDS = ", ".join(ground.cli for ground in RefusalGround)


def _with_desk(
    settings: Settings,
    agency: str,
    passphrase_env: str | None,
    job: Callable[[RequestDesk], Awaitable[T]],
) -> T:
    async def run() -> T:
        node = AgencyNode.load(
            settings,
            agency=agency,
            conn=connection_for(settings, agency),
            passphrase=passphrase_from(passphrase_env),
        )
        async with node:
            desk = RequestDesk.load(settings, node=node)
            try:
                return await job(desk)
            finally:
                desk.close()

    return asyncio.run(run())


def request(
    file: Path = typer.Argument(
        ..., help="Request JSON: persons, selectors, media or question; codes."
    ),
    sender: str = typer.Option(..., "--as", help="Requesting agency id."),
    to: str = typer.Option(..., "--to", help="The agency asked."),
    urgency: str = typer.Option(
        ..., "--urgency", help="urgent-direct (8 h), urgent-indirect (3 d) or standard (7 d)."
    ),
    case: str | None = typer.Option(
        None, "--case", help="Case reference (else the file's case_ref)."
    ),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Send a request for information; print its id (the request envelope's id).

    The time limit runs from the router's stamp of its arrival, not from our clock.
    """
    settings = settings_for(home)
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError("not valid JSON", problems=[("(root)", exc.msg)]) from None
    data["urgency"] = Urgency.from_cli(urgency).value
    if case is not None:
        data["case_ref"] = case
    req = InformationRequest.from_json(data)

    async def job(desk: RequestDesk) -> str:
        return (await desk.send(req, to=to)).envelope_id

    request_id = _with_desk(settings, sender, passphrase_env, job)
    limit = req.urgency.limit(scale=settings.request_time_scale)
    typer.echo(
        f"request {request_id} sent to {to} ({req.urgency.cli}, limit {limit}, case {req.case_ref})"
    )


def reply(
    request_id: str = typer.Argument(..., help="The request's id."),
    file: Path = typer.Argument(..., help="Dossier JSON answering it."),
    agency: str = typer.Option(..., "--as", help="The responding agency."),
    final: bool = typer.Option(
        True, "--final/--partial", help="A final (default) or partial reply."
    ),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Answer a request with a dossier linked to it (a final reply closes the request).

    A reply that would disclose another agency's restricted holding is withheld until that
    agency grants it (it is asked automatically; it answers with ``broker hub grant``).
    """
    settings = settings_for(home)
    dossier = validate_dossier_json(file.read_text())

    async def job(desk: RequestDesk) -> str:
        return (await desk.reply(request_id, dossier, final=final)).envelope_id

    envelope_id = _with_desk(settings, agency, passphrase_env, job)
    typer.echo(
        f"{'final' if final else 'partial'} reply {envelope_id} sent for request {request_id}"
    )


def refuse(
    request_id: str = typer.Argument(..., help="The request's id."),
    ground: str = typer.Option(..., "--ground", help=f"Art. 6 ground: {_GROUNDS}"),
    agency: str = typer.Option(..., "--as", help="The responding agency."),
    note: str | None = typer.Option(None, "--note", help="Free text for the requester."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Refuse a request on a ground of Directive 2023/977 Art. 6 (closes it)."""
    settings = settings_for(home)
    why = RefusalGround.from_cli(ground)

    async def job(desk: RequestDesk) -> str:
        return (await desk.refuse(request_id, ground=why, note=note)).envelope_id

    envelope_id = _with_desk(settings, agency, passphrase_env, job)
    typer.echo(f"refusal {envelope_id} ({why.cli}) sent for request {request_id}")


def _stores(home: Path | None, agency: str) -> tuple[RequestStore, AgencyStore]:
    settings = settings_for(home)
    return RequestStore.open(requests_db(settings, agency)), AgencyStore.open(
        agency_db(settings, agency)
    )


def cases(
    agency: str = typer.Option(..., "--as", help="Agency whose cases to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """List the agency's case threads (requests, replies, refusals, receipts, hits) with status."""
    req_store, agency_store = _stores(home, agency)
    try:
        found = case_list(requests=req_store, agency_store=agency_store, agency=agency)
    finally:
        req_store.close()
        agency_store.close()
    if as_json:
        typer.echo(json.dumps([c.to_json_dict() for c in found], indent=2))
        return
    for c in found:
        kinds = ", ".join(sorted({line.kind for line in c.lines}))
        typer.echo(
            f"{c.case_ref:<24} {c.status():<8} {len(c.requests)} request(s), "
            f"{len(c.lines)} message(s): {kinds}"
        )
    typer.echo(f"{len(found)} case(s)")


@case_app.command("show")
def case_show(
    case_ref: str = typer.Argument(..., help="The case reference."),
    agency: str = typer.Option(..., "--as", help="Agency whose view to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """Show one case thread in time order."""
    req_store, agency_store = _stores(home, agency)
    try:
        case = find_case(
            case_list(requests=req_store, agency_store=agency_store, agency=agency), case_ref
        )
    finally:
        req_store.close()
        agency_store.close()
    if as_json:
        typer.echo(json.dumps(case.to_json_dict(), indent=2))
        return
    typer.echo(f"case {case.case_ref}: {case.status()}")
    for line in case.lines:
        typer.echo("  " + line.text())


def deadlines(
    agency: str = typer.Option(..., "--as", help="Agency whose open requests to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """List open requests, sent and received, with the time left (negative: overdue)."""
    settings = settings_for(home)
    store = RequestStore.open(requests_db(settings, agency))
    try:
        lines = deadline_table(store, scale=settings.request_time_scale)
    finally:
        store.close()
    now = time.time()
    if as_json:
        typer.echo(json.dumps([line.to_json_dict(now) for line in lines], indent=2))
        return
    for line in lines:
        d = line.to_json_dict(now)
        left = d["seconds_left"]
        when = (
            "?"
            if left is None
            else (f"{left:,.0f} s left" if left >= 0 else f"OVERDUE by {-left:,.0f} s")
        )
        est = " (estimated)" if line.estimated else ""
        typer.echo(
            f"{line.request_id}  {line.direction:<8} {line.other:<8} {d['urgency']:<15} "
            f"{line.case_ref:<20} {when}{est}"
        )
    typer.echo(f"{len(lines)} open request(s)")


def audit_deadlines(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    archive: Path | None = ArchiveOption,
    home: Path | None = HomeOption,
) -> None:
    """Per agency and urgency: requests answered in time and median answer time, from the log.

    Replays fed.audit (or an export) and reads the REQUEST and DEADLINE events with the
    router's DELIVER and ROUTE times (docs/requests.md); time limits are the directive's
    (times BROKER_REQUEST_TIME_SCALE).
    """
    settings = settings_for(home)
    verifier = load_audit(
        settings, archive=archive, checkpoints=None, keep_events=True, show_progress=False
    )
    stats = deadline_statistics(
        [event for event, _ in verifier.events], scale=settings.request_time_scale
    )
    if as_json:
        typer.echo(json.dumps({"log": verifier.report.verdict, "agencies": stats}, indent=2))
        return
    typer.echo(f"audit log {verifier.report.verdict}")
    typer.echo(
        f"{'agency':<10} {'urgency':<16} {'requests':>8} {'answered':>8} {'in time':>8} "
        f"{'late':>5} {'pending':>7} {'share':>6} {'median':>10}"
    )
    for agency, groups in stats.items():
        for group, f in groups.items():
            share = "-" if f["share_in_time"] is None else f"{f['share_in_time']:.0%}"
            median = "-" if f["median_answer_s"] is None else f"{f['median_answer_s']:.1f} s"
            typer.echo(
                f"{agency:<10} {group:<16} {f['requests']:>8} {f['answered']:>8} "
                f"{f['in_time']:>8} {f['late']:>5} {f['pending']:>7} {share:>6} {median:>10}"
            )


def register(app: typer.Typer) -> None:
    """Add the request commands to ``app`` (and ``audit deadlines`` to its audit group)."""
    audit_app.command("deadlines")(audit_deadlines)
    app.command(name="request")(request)
    app.command(name="reply")(reply)
    app.command(name="refuse")(refuse)
    app.command(name="cases")(cases)
    app.add_typer(case_app, name="case")
    app.command(name="deadlines")(deadlines)
