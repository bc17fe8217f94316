"""``broker recall``, ``broker restrict``, ``broker compliance``: the owner stays in control.

Example::

    $ broker recall 3f2a... --as ES-PN --reason "Regulation (EU) 2016/794 Art. 19(2)"
    $ broker restrict 3f2a... --as ES-PN --handling H2 --tlp RED --reason "source at risk"
    $ broker inbox --as ES-PN        # collects the holders' signed compliance receipts
    $ broker compliance --as ES-PN [--json]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import typer

from broker.agency import AgencyNode
from broker.agency.control import compliance_table, extend, recall, restrict
from broker.agency.epochs import shred_retired_keys
from broker.agency.ledger import ComplianceLedger, OrderRow
from broker.audit.writer import AuditSink, load_audit_log
from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.connect import connection_for
from broker.home import agency_db

__all__ = ["compliance", "extend_command", "recall_command", "restrict_command", "shred_keys"]

_DEADLINE = typer.Option(24.0, "--deadline-hours", min=0.0, help="When answers are due.")
_REASON = typer.Option(..., "--reason", help="Why: the legal ground (no personal data).")


def _send_order(
    what: str,
    issue: Callable[[AgencyNode], Awaitable[OrderRow]],
    *,
    owner: str,
    passphrase_env: str | None,
    home: Path | None,
) -> None:
    """Load the owner's node, issue one signed control order with it, say where it went."""
    settings = settings_for(home)

    async def run() -> None:
        node = AgencyNode.load(
            settings,
            agency=owner,
            conn=connection_for(settings, owner),
            passphrase=passphrase_from(passphrase_env),
        )
        async with node:
            order = await issue(node)
        typer.echo(f"{what} {order.order_id} sent to {', '.join(order.holders)}")

    asyncio.run(run())


def recall_command(
    envelope_id: str = typer.Argument(..., help="The dossier's envelope id."),
    owner: str = typer.Option(..., "--as", help="The owner (the agency that sent it)."),
    reason: str = _REASON,
    deadline_hours: float = _DEADLINE,
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Recall a dossier: every holder erases it and answers with a signed compliance receipt."""
    deadline = dt.timedelta(hours=deadline_hours)
    _send_order(
        "recall",
        lambda node: recall(node, envelope_id, reason=reason, deadline=deadline),
        owner=owner,
        passphrase_env=passphrase_env,
        home=home,
    )


def restrict_command(
    envelope_id: str = typer.Argument(..., help="The dossier's envelope id."),
    owner: str = typer.Option(..., "--as", help="The owner (the agency that sent it)."),
    handling: list[str] = typer.Option([], "--handling", help="Handling code to add (H0-H3)."),
    tlp: str | None = typer.Option(None, "--tlp", help="New TLP (only higher)."),
    pap: str | None = typer.Option(None, "--pap", help="New PAP (only higher)."),
    reason: str = _REASON,
    deadline_hours: float = _DEADLINE,
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Tighten a sent dossier's codes at every holder (widening is refused: use a grant)."""
    deadline = dt.timedelta(hours=deadline_hours)
    _send_order(
        "restriction",
        lambda node: restrict(
            node, envelope_id, reason=reason, handling=handling, tlp=tlp, pap=pap, deadline=deadline
        ),
        owner=owner,
        passphrase_env=passphrase_env,
        home=home,
    )


def extend_command(
    envelope_id: str = typer.Argument(..., help="The dossier's envelope id."),
    owner: str = typer.Option(..., "--as", help="The owner (the agency that sent it)."),
    reason: str = _REASON,
    deadline_hours: float = _DEADLINE,
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Extend a dossier's retention: holders keep it for another federation review period."""
    deadline = dt.timedelta(hours=deadline_hours)
    _send_order(
        "extension",
        lambda node: extend(node, envelope_id, reason=reason, deadline=deadline),
        owner=owner,
        passphrase_env=passphrase_env,
        home=home,
    )


def compliance(
    owner: str = typer.Option(..., "--as", help="The owner whose orders to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """Show per dossier and holder what was ordered, what was answered, what is overdue.

    A holder with a ``via`` is an agency a hit on the dossier was released to: the hub
    relayed the order to it and it answers the owner itself. Answers arrive in the owner's
    inbox (``broker inbox --as OWNER`` records them). As the hub (``--as EUROPOL``): also each
    agency it relayed another owner's order to whose own holding is restricted, so it
    answers the hub, not the owner (JSON key ``owner``: whose order it was).
    """
    settings = settings_for(home)
    ledger = ComplianceLedger.open(agency_db(settings, owner))
    try:
        lines = compliance_table(ledger)
    finally:
        ledger.close()
    if as_json:
        typer.echo(json.dumps([line.to_json_dict() for line in lines], indent=2))
        return
    typer.echo(
        f"{'envelope':34} {'action':9} {'holder':10} {'status':10} {'deadline':20} {'via':9} ground"
    )
    for line in lines:
        typer.echo(
            f"{line.envelope_id:34} {line.action:9} {line.holder:10} {line.status:10} "
            f"{line.deadline.strftime('%Y-%m-%dT%H:%M:%SZ'):20} {line.via or '-':9} "
            f"{line.ground or ''}{f' (order of {line.owner})' if line.owner else ''}"
        )
    overdue = sum(1 for line in lines if line.status == "OVERDUE")
    typer.echo(f"{len(lines)} answer(s) asked, {overdue} overdue")


def shred_keys(
    agency: str = typer.Option(..., "--as", help="Agency whose retired keys to destroy."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Destroy retired decryption keys the inbox no longer needs (Kafka copies become unreadable).

    Run after each epoch's ``broker agency rotate AGENCY --usage encrypt``: a key retired more
    than the router's transit window ago, that no unread inbox record is wrapped to, is
    overwritten and deleted (docs/recall.md); each destruction is audited (``KEY_DESTROYED``).
    """
    settings = settings_for(home)

    async def run() -> list[str]:
        conn = connection_for(settings, agency)
        log = load_audit_log(
            settings, stream=agency, conn=conn, passphrase=passphrase_from(passphrase_env)
        )
        await log.start()
        try:
            return await shred_retired_keys(
                settings, agency=agency, conn=conn, audit=AuditSink(log)
            )
        finally:
            await log.close()

    gone = asyncio.run(run())
    typer.echo(f"{agency}: destroyed {len(gone)} retired decryption key(s) {' '.join(gone)}")
