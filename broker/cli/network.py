"""The network commands: publish, router run, inbox, receipts, topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import typer

from broker import telemetry
from broker.acls import acl_bindings, apply_acls
from broker.agency import AgencyNode, Delivery
from broker.agency.store import AgencyStore
from broker.agency.streamed import StreamedDossier
from broker.audit.events import ROUTER_STREAM
from broker.audit.writer import load_audit_log
from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.config import Settings
from broker.connect import connection_for
from broker.devtools.chaos.faults import kill_after_accept
from broker.envelope import SUITES
from broker.home import agency_db
from broker.local import read_record
from broker.media.references import read_references
from broker.models import validate_dossier_json
from broker.requests import RequestDesk, serve
from broker.router import EnvelopeCheck, Router
from broker.topics import ROUTER, TopicLayout
from broker.transport import ensure_topics
from broker.trust import load_trust
from broker.trust.live import LiveTrust

__all__ = ["inbox", "publish", "receipts", "router_app", "topics_app"]

router_app = typer.Typer(
    help="The router: outboxes to inboxes, exactly once.", no_args_is_help=True
)
topics_app = typer.Typer(help="The federation's Kafka topics.", no_args_is_help=True)

UntilIdle = typer.Option(
    None, "--until-idle", help="Drain, then exit 0 after this many seconds with nothing new."
)


def _stop_on_sigterm() -> asyncio.Event:
    """Return an event set by SIGTERM/SIGINT: in-flight work finishes, then the loop exits."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def create_topics(settings: Settings) -> list[str]:
    """Create every topic the federation needs (idempotent); under local mTLS, also its ACLs."""
    trust = load_trust(settings)
    layout = TopicLayout(prefix=settings.topic_prefix)
    conn = connection_for(settings, "admin")
    created = await ensure_topics(
        conn, layout=layout, agencies=trust.agency_ids(), retention=settings.retention
    )
    if conn.tls is not None:
        await apply_acls(conn, acl_bindings(layout, trust.agency_ids()))
    return created


def create_topics_if_known(settings: Settings) -> None:
    """Create the topics (and ACLs under mTLS) if a Kafka is known; else say how."""
    if not kafka_known(settings):
        typer.echo("  no Kafka known yet: run `broker topics create` once it is up")
        return
    created = asyncio.run(create_topics(settings))
    typer.echo(f"  created {len(created)} Kafka topic(s)")


def kafka_known(settings: Settings) -> bool:
    """Whether a Kafka is configured (KAFKA_BOOTSTRAP) or recorded by `broker local up`."""
    return bool(settings.kafka_bootstrap) or read_record(settings.state_dir) is not None


@topics_app.command("create")
def topics_create(home: Path | None = HomeOption) -> None:
    """Create the outbox, inbox and rejected topics of every agency, plus audit and federation."""
    created = asyncio.run(create_topics(settings_for(home)))
    typer.echo(f"created {len(created)} topic(s)" + (f": {', '.join(created)}" if created else ""))


def publish(
    file: Path = typer.Argument(..., help="Dossier JSON file."),
    sender: str = typer.Option(..., "--as", help="Publishing agency id."),
    to: str = typer.Option(..., "--to", help="Comma-separated recipient agency ids."),
    suite: str = typer.Option("classic", "--suite", help="classic or pq-hybrid."),
    media: list[Path] = typer.Option(
        [],
        "--media",
        help="Media references to add: JSON Lines of `broker media hash` (read as a stream).",
    ),
    attach: list[Path] = typer.Option(
        [], "--attach", help="A file to attach, of any size up to the maximum dossier size."
    ),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Seal a dossier and publish it to the agency's outbox; print the envelope id.

    A dossier that fits one envelope is sent as one; a larger one (many --media references,
    big --attach files) is streamed: parts, then one signed manifest, never held whole.
    """
    if suite not in SUITES:
        raise typer.BadParameter(f"--suite must be one of {', '.join(SUITES)}")
    settings = settings_for(home)
    dossier = validate_dossier_json(file.read_text())
    telemetry.configure(service=f"agency-{sender}")

    async def run() -> None:
        node = AgencyNode.load(
            settings,
            agency=sender,
            conn=connection_for(settings, sender),
            passphrase=passphrase_from(passphrase_env),
        )
        async with node:
            refs = (ref for path in media for ref in read_references(path))
            result = await node.publish_large(
                dossier,
                media=refs,
                attachments=attach,
                to=[t.strip() for t in to.split(",") if t.strip()],
                suite=suite,
            )
        typer.echo(
            f"published {result.envelope_id} (sequence {result.sequence}) "
            f"to {result.topic}[{result.partition}]@{result.offset}"
        )

    asyncio.run(run())


@router_app.command("run")
def router_run(
    until_idle: float | None = UntilIdle,
    max_batch: int = typer.Option(500, "--max-batch", min=1, help="Records per transaction."),
    home: Path | None = HomeOption,
) -> None:
    """Route every outbox to the recipients' inboxes (stops cleanly on SIGTERM).

    Start several to share the outboxes: one consumer group, one transactional id per
    outbox partition, so a partition's new owner fences the old one (no duplicates).
    """
    settings = settings_for(home)
    telemetry.configure(service="router")

    async def run() -> None:
        stop = _stop_on_sigterm()  # first: a SIGTERM during start-up also stops cleanly
        trust = LiveTrust.watch(settings)  # follows the registry: members join without restart
        conn = connection_for(settings, ROUTER)
        router = Router(
            conn=conn,
            layout=TopicLayout(prefix=settings.topic_prefix),
            check=EnvelopeCheck(trust=trust, max_transit=settings.max_transit),
            max_batch=max_batch,
            audit=load_audit_log(settings, stream=ROUTER_STREAM, conn=conn),
        )
        stats = await router.run(stop=stop, until_idle=until_idle)
        typer.echo(
            f"router: consumed {stats.consumed}, routed {stats.routed}, "
            f"rejected {stats.rejected}, transactions {stats.transactions}"
            + (f", LOST {stats.lost} expired unread (audited)" if stats.lost else "")
        )

    asyncio.run(run())


def inbox(
    agency: str = typer.Option(..., "--as", help="Agency whose inbox to read."),
    follow: bool = typer.Option(False, "--follow", help="Keep consuming new dossiers."),
    until_idle: float | None = UntilIdle,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per dossier."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Receive, verify, decrypt and store what is addressed to the agency; send receipts.

    Requests, replies and refusals go to the agency's case threads; while it runs, the
    deadlines of the requests it received are watched (reminder at 75 %, overdue notice).

    Several processes of one agency on one machine share its inbox (one consumer group)
    and its SQLite store (the replay check is atomic across them).
    """
    settings = settings_for(home)
    telemetry.configure(service=f"agency-{agency}")
    idle = until_idle if until_idle is not None else (None if follow else 3.0)

    async def show(delivery: Delivery) -> None:
        if as_json:
            typer.echo(json.dumps(delivery.to_json_dict()))
        else:
            d = delivery.dossier
            what = f"case {d.case_ref}" if d else delivery.opened.header.kind
            if isinstance(d, StreamedDossier):
                what += f" ({d.media_count} streamed references, {d.part_count} parts)"
            typer.echo(
                f"{delivery.opened.header.sender} -> {agency}: {what} "
                f"(envelope {delivery.envelope_id})"
            )

    async def run() -> None:
        stop = _stop_on_sigterm()  # first: a SIGTERM during start-up also stops cleanly
        node = AgencyNode.load(
            settings,
            agency=agency,
            conn=connection_for(settings, agency),
            passphrase=passphrase_from(passphrase_env),
        )
        async with node:
            desk = RequestDesk.load(settings, node=node)
            try:  # the request workflow, and its deadline clock while the inbox runs
                stats = await serve(
                    desk,
                    handler=show,
                    stop=stop,
                    until_idle=idle,
                    check_every=settings.request_check_s,
                    after_accept=kill_after_accept(os.environ),
                )
            finally:
                desk.close()
        if not as_json:
            typer.echo(
                f"delivered {stats.delivered}, receipts {stats.receipts}, "
                f"rejected {stats.rejected} {stats.reasons or ''}".rstrip()
            )

    asyncio.run(run())


def receipts(
    agency: str = typer.Option(..., "--as", help="Agency whose sent dossiers to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """List what the agency published: delivered, rejected, or still unacknowledged."""
    settings = settings_for(home)
    store = AgencyStore.open(agency_db(settings, agency))
    try:
        items = [i for i in store.sent() if i.kind == "DOSSIER"]
    finally:
        store.close()
    if as_json:
        for item in items:
            typer.echo(
                json.dumps(
                    {
                        "envelope_id": item.envelope_id,
                        "sequence": item.sequence,
                        "status": item.status,
                    }
                )
            )
        return
    for item in items:
        status = ", ".join(f"{r}: {s}" for r, s in item.status.items())
        typer.echo(f"{item.envelope_id} seq {item.sequence}: {status}")
    typer.echo(f"{len(items)} dossier(s) sent")
