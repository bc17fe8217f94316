"""``broker dossier``: validate, generate, seal and open dossiers (no Kafka needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from broker.agency.store import AgencyStore
from broker.cli._common import HomeOption, PassphraseEnvOption, passphrase_from, settings_for
from broker.envelope import SUITES, Verifier, seal
from broker.errors import ConfigError, ValidationError
from broker.home import agency_db
from broker.models import Dossier, validate_dossier_json
from broker.synthetic import example_dossier
from broker.trust import load_identity, load_trust

app = typer.Typer(help="Validate, generate, seal and open dossiers.", no_args_is_help=True)


def _read(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}", detail=str(exc)) from exc


@app.command()
def validate(file: Path = typer.Argument(..., help="Dossier JSON file, or - for stdin.")) -> None:
    """Check a dossier JSON file; print every problem and exit 1 if there is any."""
    try:
        validate_dossier_json(_read(file))
    except ValidationError as exc:
        typer.echo(f"{file}: {len(exc.problems)} problem(s)", err=True)
        for path, problem in exc.problems:
            typer.echo(f"  {path}: {problem}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: OK")


@app.command()
def example(seed: int = typer.Option(0, "--seed", help="Same seed, same dossier.")) -> None:
    """Print a valid synthetic dossier (every person and number fictitious) as JSON."""
    typer.echo(example_dossier(seed).to_json())


@app.command("seal")
def seal_cmd(
    file: Path = typer.Argument(..., help="Dossier JSON file."),
    sender: str = typer.Option(..., "--as", help="Sending agency id."),
    to: str = typer.Option(..., "--to", help="Comma-separated recipient agency ids."),
    suite: str = typer.Option("classic", "--suite", help="classic or pq-hybrid."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the envelope."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Seal a dossier to its recipients (end-to-end encrypted and signed) into a file."""
    if suite not in SUITES:
        raise typer.BadParameter(f"--suite must be one of {', '.join(SUITES)}")
    settings = settings_for(home)
    dossier = validate_dossier_json(_read(file))
    trust = load_trust(settings)
    ident = load_identity(
        settings, agency=sender, passphrase=passphrase_from(passphrase_env), trust=trust
    )
    recipients = [r.strip() for r in to.split(",") if r.strip()]
    for agency in recipients:  # refuse unknown recipients before using a sequence number
        trust.require_agency(agency)
    store = AgencyStore.open(agency_db(settings, sender))
    try:
        sequence = store.next_sequence()
    finally:
        store.close()
    data = seal(
        dossier.to_bytes(),
        kind="DOSSIER",
        codes=dossier.codes.to_avro(),
        sender=ident,
        recipients=recipients,
        trust=trust,
        sequence=sequence,
        suite=suite,
    )
    output.write_bytes(data)
    typer.echo(f"sealed {len(data)} bytes to {output} (suite {suite}, sequence {sequence})")


@app.command("open")
def open_cmd(
    file: Path = typer.Argument(..., help="Envelope file."),
    recipient: str = typer.Option(..., "--as", help="Receiving agency id."),
    as_json: bool = typer.Option(False, "--json", help="Print provenance and dossier as JSON."),
    passphrase_env: str | None = PassphraseEnvOption,
    home: Path | None = HomeOption,
) -> None:
    """Verify and decrypt an envelope file for one recipient."""
    settings = settings_for(home)
    trust = load_trust(settings)
    ident = load_identity(
        settings, agency=recipient, passphrase=passphrase_from(passphrase_env), trust=trust
    )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}", detail=str(exc)) from exc
    opened = Verifier(trust=trust).open(data, identity=ident)
    dossier = Dossier.from_bytes(opened.payload)
    if as_json:
        out = {"provenance": opened.provenance(), "dossier": json.loads(dossier.to_json())}
        typer.echo(json.dumps(out, indent=2))
    else:
        p = opened.provenance()
        typer.echo(
            f"from {p['sender']} (key {p['sender_key_id']}), envelope {p['envelope_id']}, "
            f"sequence {p['sequence']}, suite {p['suite']}"
        )
        typer.echo(f"case {dossier.case_ref}: {dossier.summary}")
