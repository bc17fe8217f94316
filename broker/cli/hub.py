"""``broker hub``: run the hub, and report what it found."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from broker import telemetry
from broker.agency import AgencyNode
from broker.agency.store import AgencyStore
from broker.cli._common import HomeOption, settings_for
from broker.cli.hashlist import publish_file
from broker.cli.network import UntilIdle, _stop_on_sigterm
from broker.connect import connection_for
from broker.hashlist import ListFollower
from broker.home import agency_db, hub_db
from broker.hub import Hub, HubIndex
from broker.hub.grant import find_release_request, grant_release, release_requests
from broker.hub.lists import DEFAULT_QUARANTINE_AFTER
from broker.hub.report import build_report, explain
from broker.models import normalize_selector
from broker.topics import HUB, TopicLayout
from broker.trust.live import LiveTrust

app = typer.Typer(
    help="The hub: cross-border matching with originator control.", no_args_is_help=True
)


def _index_path(home: Path | None, agency: str) -> Path:
    return hub_db(settings_for(home), agency)


@app.command()
def run(
    agency: str = typer.Option(HUB, "--as", help="The hub's agency id."),
    known_material: Path | None = typer.Option(
        None,
        "--known-material",
        help="Hash-list file (SHA-256 per line, or CSV/JSONL) imported as the hub's own list "
        "'known-material' (signed updates on its topic) before the hub starts.",
    ),
    quarantine_after: int = typer.Option(
        DEFAULT_QUARANTINE_AFTER,
        "--quarantine-after",
        min=1,
        help="Quarantine a list entry that matches more distinct media than this, pending its "
        "owner's review (confirm/dispute).",
    ),
    until_idle: float | None = UntilIdle,
    home: Path | None = HomeOption,
) -> None:
    """Index every dossier addressed to the hub, follow every hash list, notify owners of hits."""
    settings = settings_for(home)
    telemetry.configure(service="hub")

    if known_material is not None:
        count = publish_file(settings, agency=agency, name="known-material", path=known_material)
        typer.echo(f"hub: {count} known-material hashes published to {agency}/known-material")
    index = HubIndex.open(_index_path(home, agency), quarantine_after=quarantine_after)

    async def main() -> None:
        conn = connection_for(settings, agency)
        # LiveTrust: a member (e.g. a hotline) joining the running federation is trusted at once.
        node = AgencyNode.load(settings, agency=agency, conn=conn, trust=LiveTrust.watch(settings))
        hub = Hub(node=node, index=index)
        layout = TopicLayout(prefix=settings.topic_prefix)
        follower = ListFollower(
            conn=conn, layout=layout, state=index.lists.state, trust=node.trust, agency=agency
        )
        async with node, follower:
            await follower.catch_up(idle_s=0.5)  # the lists as they stand before any dossier
            stop = asyncio.Event()
            following = asyncio.create_task(follower.run(stop))
            try:
                stats = await node.consume(
                    handler=hub.on_delivery, stop=_stop_on_sigterm(), until_idle=until_idle
                )
            finally:
                stop.set()
                await following
        index.close()
        typer.echo(
            f"hub: indexed {stats.delivered}, notifications {hub.notifications}, "
            f"release requests {hub.release_requests}, rejected {stats.rejected}"
        )

    asyncio.run(main())


@app.command()
def report(
    agency: str = typer.Option(HUB, "--as", help="The hub's agency id."),
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
    quarantined = data["quarantined_list_entries"]
    typer.echo(f"quarantined list entries (pending their owner's review): {len(quarantined)}")
    for q in quarantined[:10]:
        typer.echo(f"  {q['topic']} {q['entry_id']}: {q['distinct_media']} distinct media")


@app.command()
def links(
    selector: str = typer.Option(..., "--selector", help="A hub key or a raw value."),
    selector_type: str | None = typer.Option(None, "--type", help="e.g. PHONE_E164, EMAIL."),
    platform: str | None = typer.Option(None, "--platform"),
    agency: str = typer.Option(HUB, "--as", help="The hub's agency id."),
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
        requests = release_requests(store)
    finally:
        store.close()
    for req in requests:
        typer.echo(
            f"{req.request_id}  {req.hit_key}  your envelope {req.owner_envelope_id}  "
            f"asked for: {', '.join(req.requested_for)}"
        )
    typer.echo(f"{len(requests)} release request(s)")


@app.command()
def grant(
    agency: str = typer.Option(..., "--as", help="The owner agency granting the release."),
    request_id: str = typer.Option(..., "--request", help="The release request id."),
    to: str = typer.Option(..., "--to", help="Comma-separated agencies to release to."),
    hub_agency: str | None = typer.Option(
        None, "--hub", help="Where the grant goes (default: who asked, the hub or an agency)."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Send a signed ReleaseGrant for exactly these agencies (a subset of the request).

    It goes back to whoever asked: the hub (a hit), or an agency whose reply to a request
    would disclose this agency's restricted holding (``broker reply``).
    """
    settings = settings_for(home)
    store = AgencyStore.open(agency_db(settings, agency))
    try:  # a clear error before anything connects to Kafka
        find_release_request(store, agency=agency, request_id=request_id)
    finally:
        store.close()
    release_to = sorted({a.strip() for a in to.split(",") if a.strip()})

    async def main() -> None:
        conn = connection_for(settings, agency)
        async with AgencyNode.load(settings, agency=agency, conn=conn) as node:
            result = await grant_release(
                node, request_id=request_id, release_to=release_to, hub=hub_agency
            )
        typer.echo(f"grant {result.envelope_id} sent: release to {', '.join(release_to)}")

    asyncio.run(main())
