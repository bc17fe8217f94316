"""``broker federation``: create and inspect the federation (root + agencies)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.cli.network import create_topics_if_known
from broker.federation import DEFAULT_VALIDITY_DAYS, init_federation
from broker.trust.keystore import load_root, load_trust
from broker.trust.manifest import load_registry, sign_registry

app = typer.Typer(help="Create and inspect the federation.", no_args_is_help=True)


@app.command()
def init(
    agencies: str = typer.Option(..., "--agencies", help="Comma-separated ids, e.g. ES-PN,DE-BKA."),
    validity_days: int = typer.Option(DEFAULT_VALIDITY_DAYS, "--validity-days", min=1),
    passphrase_env: str | None = PassphraseEnvOption,
    force: bool = typer.Option(False, "--force", help="Replace an existing federation."),
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
    create_topics_if_known(settings)


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
