"""``broker federation``: create, inspect and distribute the federation (root + agencies)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import typer

from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.cli.network import create_topics, create_topics_if_known, kafka_known
from broker.config import Settings
from broker.connect import connection_for
from broker.errors import TransportError
from broker.federation import DEFAULT_VALIDITY_DAYS, init_federation
from broker.topics import TopicLayout
from broker.trust.distribution import publish_registry, sync_registry
from broker.trust.keystore import load_root, load_trust
from broker.trust.manifest import load_registry, sign_registry

app = typer.Typer(help="Create, inspect and distribute the federation.", no_args_is_help=True)

PublishOption = typer.Option(
    None,
    "--publish/--no-publish",
    help="Publish the public registry to the federation topic (default: if a Kafka is known).",
)


def _publish(settings: Settings) -> str:
    async def run() -> int:
        await create_topics(settings)
        conn = connection_for(settings, "admin")
        layout = TopicLayout(prefix=settings.topic_prefix)
        return await publish_registry(settings, conn, layout=layout)

    count = asyncio.run(run())
    return f"{count} record(s) to {TopicLayout(prefix=settings.topic_prefix).federation}"


def publish_after_change(settings: Settings, publish: bool | None) -> bool:
    """After an administrative act: publish the registry if asked, or if a Kafka is known.

    Asked explicitly (``--publish``), a failure is an error; by default it is a warning,
    since the act itself is done and ``broker federation publish`` can be rerun. Return
    whether it was published (the topics exist then).
    """
    if publish is False or (publish is None and not kafka_known(settings)):
        if publish is None:
            typer.echo("  registry not published (no Kafka known): `broker federation publish`")
        return False
    try:
        typer.echo(f"  registry published: {_publish(settings)}")
    except TransportError as exc:
        if publish:
            raise
        typer.echo(f"  registry NOT published ({exc.message}): `broker federation publish`")
        return False
    return True


@app.command()
def init(
    agencies: str = typer.Option(..., "--agencies", help="Comma-separated ids, e.g. ES-PN,DE-BKA."),
    validity_days: int = typer.Option(DEFAULT_VALIDITY_DAYS, "--validity-days", min=1),
    passphrase_env: str | None = PassphraseEnvOption,
    force: bool = typer.Option(False, "--force", help="Replace an existing federation."),
    publish: bool | None = PublishOption,
    home: Path | None = HomeOption,
) -> None:
    """Create the federation root and the agencies' keys and certificates."""
    settings = settings_for(home)
    ids = init_federation(
        settings,
        agencies=[a.strip() for a in agencies.split(",") if a.strip()],
        validity_days=validity_days,
        passphrase=passphrase_from(passphrase_env),
        force=force,
    )
    typer.echo(f"federation created in {settings.home}: {', '.join(ids)}")
    typer.echo(f"  public: {settings.agencies_dir}   private (0600): {settings.keys_dir}")
    if not publish_after_change(settings, publish):
        create_topics_if_known(settings)


@app.command("publish")
def publish_cmd(home: Path | None = HomeOption) -> None:
    """Publish the verified public registry (manifest last) to the compacted federation topic."""
    settings = settings_for(home)
    typer.echo(f"registry published: {_publish(settings)}")


@app.command()
def sync(
    agency: str = typer.Option(..., "--as", help="Principal reading the topic (an agency id)."),
    home: Path | None = HomeOption,
) -> None:
    """Rebuild this home's public agencies/ from the federation topic, verified by its anchor."""
    settings = settings_for(home)
    layout = TopicLayout(prefix=settings.topic_prefix)
    manifest = asyncio.run(sync_registry(settings, connection_for(settings, agency), layout=layout))
    typer.echo(
        f"registry manifest version {manifest.version} from {layout.federation}: "
        f"{len(manifest.members)} member(s), {len(manifest.files)} file(s) verified"
    )


@app.command()
def show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """List agencies, their key ids, usages, validity and revocations."""
    trust = load_trust(settings_for(home))
    now = dt.datetime.now(dt.UTC)
    out: dict[str, list[dict[str, object]]] = {}
    for agency in trust.agency_ids():
        rows = []
        for cert in trust.require_agency(agency).certificates:
            rev = trust.revocation(agency, cert.key_id)
            rows.append(
                {
                    "key_id": cert.key_id,
                    "usage": cert.usage,
                    "not_before": cert.not_before.isoformat(),
                    "not_after": cert.not_after.isoformat(),
                    "revoked": rev is not None and rev.kind != "SUPERSEDED",
                    "superseded": rev is not None and rev.kind == "SUPERSEDED",
                    "revocation": None if rev is None else f"{rev.kind}: {rev.reason}",
                    "valid_now": cert.not_before <= now <= cert.not_after and rev is None,
                }
            )
        out[agency] = rows
    if as_json:
        typer.echo(json.dumps({"agencies": out}, indent=2))
        return
    for agency, rows in out.items():
        typer.echo(agency)
        for r in rows:
            state = "valid" if r["valid_now"] else (r["revocation"] or "not valid now")
            typer.echo(f"  {r['key_id']:<24} {r['usage']:<8} until {r['not_after']}  {state}")


@app.command()
def manifest(
    sign: bool = typer.Option(
        False,
        "--sign",
        help="Sign a new version over the public files as they are now (root key needed; "
        "for a registry made before manifests, or after reviewing a change by hand).",
    ),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Show the root-signed registry manifest (version, members, files), or sign a new one."""
    settings = settings_for(home)
    if sign:
        sign_registry(settings, load_root(settings, passphrase_from(passphrase_env)))
    reg = load_registry(settings)
    m = reg.manifest
    typer.echo(f"registry manifest version {m.version}, issued {m.issued_at.isoformat()}")
    typer.echo(f"  members: {', '.join(m.members)}")
    typer.echo(f"  {len(m.files)} file(s), every one present and unaltered")
