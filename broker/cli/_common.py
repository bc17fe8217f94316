"""Options shared by every command."""

from __future__ import annotations

import os
from pathlib import Path

import pydantic
import typer

from broker.config import Settings
from broker.errors import ConfigError

HomeOption = typer.Option(
    None, "--home", envvar="BROKER_HOME", help="Federation home directory (default: cwd)."
)
PassphraseEnvOption = typer.Option(
    None,
    "--passphrase-env",
    help="Name of an environment variable holding the key passphrase (keys stay unencrypted "
    "without one).",
)


def settings_for(home: Path | None) -> Settings:
    """Return settings for ``--home`` (or BROKER_HOME / cwd); a bad value is a ConfigError."""
    try:
        return Settings(home=home) if home is not None else Settings()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError("invalid setting", detail=problems) from None


def passphrase_from(env_name: str | None) -> str | None:
    """Read the passphrase from the named environment variable, if any."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise typer.BadParameter(f"environment variable {env_name} is empty or unset")
    return value
