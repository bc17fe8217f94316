"""``broker hub``: run the hub, and report what it found."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import typer

from broker import telemetry
from broker.audit.events import AuditKind
from broker.cli._common import HomeOption, settings_for
from broker.cli.network import UntilIdle, _stop_on_sigterm
from broker.codec import SchemaStore
from broker.errors import ConfigError
from broker.home import agency_db, hub_db
from broker.hub import Hub, HubIndex
from broker.hub.report import build_report, explain
from broker.models import normalize_selector
from broker.node import AgencyNode
from broker.store import AgencyStore

app = typer.Typer(
    help="The hub: cross-border matching with originator control.", no_args_is_help=True
)


def _index_path(home: Path | None, agency: str) -> Path:
    return hub_db(settings_for(home), agency)


@app.command()
def run(
    agency: str = typer.Option("EUROPOL", "--as", help="The hub's agency id."),
    known_material: Path | None = typer.Option(
        None, "--known-material", help="File of known-material SHA-256 hashes, one per line."
    ),
    until_idle: float | None = UntilIdle,
    home: Path | None = HomeOption,
) -> None:
    """Index every dossier addressed to the hub and notify owners of cross-border hits."""
    settings = settings_for(home)
    telemetry.configure(service="hub")

    index = HubIndex.open(_index_path(home, agency))
    if known_material is not None:
        count = index.load_known_material(known_material.read_text().split())
        typer.echo(f"hub: {count} known-material hashes loaded")

    async def main() -> None:
        node = AgencyNode.load(settings, agency=agency)
        hub = Hub(node=node, index=index)
        async with node:
            stats = await node.consume(
                handler=hub.on_delivery, stop=_stop_on_sigterm(), until_idle=until_idle
            )
        index.close()
        typer.echo(
            f"hub: indexed {stats.delivered}, notifications {hub.notifications}, "
            f"release requests {hub.release_requests}, rejected {stats.rejected}"
        )

    asyncio.run(main())


@app.command()
def report(
    agency: str = typer.Option("EUROPOL", "--as"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """Show clusters of linked dossiers across agencies, counts, pending release requests."""
    index = HubIndex.open(_index_path(home, agency))
    data = build_report(index)
    index.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"cross-border links: {data['links']}  {data['links_by_type']}")
    typer.echo(f"known-material hits: {data['known_material_hits']}")
    typer.echo(f"links per agency: {data['links_per_agency']}")
    typer.echo(f"clusters: {len(data['clusters'])}")
    for c in data["clusters"][:10]:
        typer.echo(f"  {c['dossiers']:3d} dossiers across {', '.join(c['agencies'])}")
    typer.echo(f"pending release requests: {len(data['pending_release_requests'])}")


@app.command()
def links(
    selector: str = typer.Option(..., "--selector", help="A hub key or a raw value."),
    selector_type: str | None = typer.Option(None, "--type", help="e.g. PHONE_E164, EMAIL."),
    platform: str | None = typer.Option(None, "--platform"),
    agency: str = typer.Option("EUROPOL", "--as"),
    home: Path | None = HomeOption,
) -> None:
    """Explain one link: which agencies hold the selector, and what may be released."""
    key = normalize_selector(selector_type, selector, platform) if selector_type else selector
    index = HubIndex.open(_index_path(home, agency))
    data = explain(index, key)
    index.close()
    typer.echo(json.dumps(data, indent=2))
    if not data["holdings"]:
        raise typer.Exit(1)


@app.command("requests")
def requests_cmd(
    agency: str = typer.Option(..., "--as", help="The owner agency."),
    home: Path | None = HomeOption,
) -> None:
    """List release requests the hub sent to this agency (run `broker inbox` first)."""
    store = AgencyStore.open(agency_db(settings_for(home), agency))
    try:
        items = store.inbox(kind="RELEASE_REQUEST")
    finally:
        store.close()
    codec = SchemaStore.default()
    for item in items:
        req = codec.decode("eu.fed.ReleaseRequest", item.payload)
        typer.echo(
            f"{req['request_id']}  {req['hit_key']}  your envelope {req['owner_envelope_id']}  "
            f"asked for: {', '.join(req['requested_for'])}"
        )
    typer.echo(f"{len(items)} release request(s)")


@app.command()
def grant(
    agency: str = typer.Option(..., "--as", help="The owner agency granting the release."),
    request_id: str = typer.Option(..., "--request", help="The release request id."),
    to: str = typer.Option(..., "--to", help="Comma-separated agencies to release to."),
    hub_agency: str = typer.Option("EUROPOL", "--hub"),
    home: Path | None = HomeOption,
) -> None:
    """Send the hub a signed ReleaseGrant for exactly these agencies (a subset of the request)."""
    settings = settings_for(home)
    store = AgencyStore.open(agency_db(settings, agency))
    try:
        items = store.inbox(kind="RELEASE_REQUEST")
    finally:
        store.close()
    codec = SchemaStore.default()
    requests = [codec.decode("eu.fed.ReleaseRequest", i.payload) for i in items]
    match = [(r, i) for r, i in zip(requests, items, strict=True) if r["request_id"] == request_id]
    if not match:
        raise ConfigError(f"no release request {request_id!r} received by {agency}")
    request, item = match[0]
    release_to = sorted({a.strip() for a in to.split(",") if a.strip()})
    payload = codec.encode(
        "eu.fed.ReleaseGrant",
        {
            "request_id": request_id,
            "hit_key": request["hit_key"],
            "release_to": release_to,
            "at": dt.datetime.now(dt.UTC),
        },
    )
    codes = dict(item.provenance["codes"])
    codes["retention_review"] = dt.date.fromisoformat(codes["retention_review"])

    async def main() -> None:
        async with AgencyNode.load(settings, agency=agency) as node:
            result = await node.publish(payload, kind="RELEASE_GRANT", codes=codes, to=[hub_agency])
            if node.audit is not None:
                node.audit.emit(
                    AuditKind.RELEASE_GRANT,
                    envelope_id=result.envelope_id,
                    parties=[agency, *release_to],
                    outcome="granted",
                    ref=request_id,
                    message_kind="RELEASE_GRANT",
                )
        typer.echo(f"grant {result.envelope_id} sent: release to {', '.join(release_to)}")

    asyncio.run(main())
