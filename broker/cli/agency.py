"""``broker agency``: add, rotate, revoke and remove member agencies."""

from __future__ import annotations

from pathlib import Path

import typer

from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.cli.federation import PublishOption, publish_after_change
from broker.cli.network import create_topics_if_known
from broker.federation import add_agency, remove_agency, revoke_key, rotate_keys

app = typer.Typer(help="Manage member agencies and their keys.", no_args_is_help=True)


@app.command()
def add(
    agency: str = typer.Argument(..., help="Agency id, e.g. PT-PJ or HR-CNZD."),
    kind: str | None = typer.Option(
        None, "--kind", help="police (default), hub or hotline (never receives police dossiers)."
    ),
    country: str | None = typer.Option(
        None, "--country", help="ISO 3166-1 alpha-2 country a hotline covers, e.g. HR."
    ),
    passphrase_env: str | None = PassphraseEnvOption,
    publish: bool | None = PublishOption,
    home: Path | None = HomeOption,
) -> None:
    """Add a member with fresh signing and encryption keys; it may join a RUNNING federation.

    The router and the hub follow the registry on disk (broker.trust.live): no restart.
    """
    add_agency(
        settings_for(home),
        agency=agency,
        kind=kind,
        country=country,
        passphrase=passphrase_from(passphrase_env),
    )
    typer.echo(f"agency {agency} added" + (f" ({kind}, {country})" if kind else ""))
    if not publish_after_change(settings_for(home), publish):
        create_topics_if_known(settings_for(home))


@app.command()
def rotate(
    agency: str = typer.Argument(...),
    usage: str = typer.Option("both", "--usage", help="sign, encrypt or both."),
    passphrase_env: str | None = PassphraseEnvOption,
    publish: bool | None = PublishOption,
    home: Path | None = HomeOption,
) -> None:
    """Issue new keys; old ones stay valid for what was made before, and are kept."""
    usages = {"sign": ("SIGN",), "encrypt": ("ENCRYPT",), "both": ("SIGN", "ENCRYPT")}
    if usage not in usages:
        raise typer.BadParameter("--usage must be sign, encrypt or both")
    ids = rotate_keys(
        settings_for(home),
        agency=agency,
        usages=usages[usage],
        passphrase=passphrase_from(passphrase_env),
    )
    typer.echo(f"agency {agency}: new keys {', '.join(ids)}")
    publish_after_change(settings_for(home), publish)


@app.command()
def revoke(
    agency: str = typer.Argument(...),
    key_id: str = typer.Option(..., "--key-id"),
    reason: str = typer.Option(..., "--reason"),
    passphrase_env: str | None = PassphraseEnvOption,
    publish: bool | None = PublishOption,
    home: Path | None = HomeOption,
) -> None:
    """Revoke a key as compromised: refused for any time from now on."""
    revoke_key(
        settings_for(home),
        agency=agency,
        key_id=key_id,
        reason=reason,
        passphrase=passphrase_from(passphrase_env),
    )
    typer.echo(f"key {agency}/{key_id} revoked")
    publish_after_change(settings_for(home), publish)


@app.command()
def remove(
    agency: str = typer.Argument(...),
    passphrase_env: str | None = PassphraseEnvOption,
    publish: bool | None = PublishOption,
    home: Path | None = HomeOption,
) -> None:
    """Remove an agency: withdraw all its keys."""
    ids = remove_agency(
        settings_for(home), agency=agency, passphrase=passphrase_from(passphrase_env)
    )
    typer.echo(f"agency {agency} removed ({len(ids)} keys withdrawn)")
    publish_after_change(settings_for(home), publish)
