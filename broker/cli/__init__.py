"""The ``broker`` command line.

Each sub-command group lives in its own module and is registered here. Errors
from the package are translated to a one-line message plus diagnostics on
stderr and exit status 2 at this single boundary (:func:`main`).

Example::

    $ broker --help
    $ broker local up --nodes 1
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

from broker import __version__
from broker.errors import Error

__all__ = ["app", "main"]

app = typer.Typer(
    name="broker",
    help="Secure inter-agency dossier broker over Apache Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Secure inter-agency dossier broker over Apache Kafka."""


def _register() -> None:
    # Sub-command groups; each module exposes ``app`` (a typer.Typer) or
    # ``register(app)`` for top-level commands.
    from broker.cli import agency as agency_cli
    from broker.cli import audit as audit_cli
    from broker.cli import bench as bench_cli
    from broker.cli import chaos as chaos_cli
    from broker.cli import console as console_cli
    from broker.cli import demo as demo_cli
    from broker.cli import dossier as dossier_cli
    from broker.cli import federation as federation_cli
    from broker.cli import hashlist as hashlist_cli
    from broker.cli import hub as hub_cli
    from broker.cli import local as local_cli
    from broker.cli import media as media_cli
    from broker.cli import network as network_cli
    from broker.cli import notice as notice_cli
    from broker.cli import recall as recall_cli
    from broker.cli import requests as requests_cli
    from broker.cli import schema as schema_cli
    from broker.cli import status as status_cli

    app.add_typer(local_cli.app, name="local")
    app.add_typer(federation_cli.app, name="federation")
    app.add_typer(agency_cli.app, name="agency")
    app.add_typer(dossier_cli.app, name="dossier")
    app.add_typer(schema_cli.app, name="schema")
    app.add_typer(network_cli.router_app, name="router")
    app.add_typer(network_cli.topics_app, name="topics")
    app.add_typer(hub_cli.app, name="hub")
    app.add_typer(hashlist_cli.app, name="hashlist")
    app.add_typer(notice_cli.app, name="notice")
    app.add_typer(audit_cli.app, name="audit")
    app.add_typer(media_cli.app, name="media")
    app.command(name="publish")(network_cli.publish)
    app.command(name="inbox")(network_cli.inbox)
    app.command(name="receipts")(network_cli.receipts)
    app.command(name="demo")(demo_cli.demo)
    app.add_typer(bench_cli.app, name="bench")
    app.command(name="chaos")(chaos_cli.chaos)
    app.command(name="status")(status_cli.status)
    app.command(name="recall")(recall_cli.recall_command)
    app.command(name="restrict")(recall_cli.restrict_command)
    app.command(name="extend")(recall_cli.extend_command)
    app.command(name="compliance")(recall_cli.compliance)
    app.command(name="shred-keys")(recall_cli.shred_keys)
    requests_cli.register(app)
    app.command(name="console")(console_cli.console)


_register()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwind like Ctrl-C does, so every ``finally`` runs: a bench, demo or chaos run
    # stops the local Kafka it started instead of leaving the JVM behind. Long-running
    # services (``broker router run``, ``broker inbox``) install their own clean stop.
    raise SystemExit(128 + signum)


def main() -> None:
    """Run the CLI, translating package errors into exit status 2 with diagnostics."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        app()
    except Error as exc:
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        typer.echo(exc.diagnostics(), err=True)
        sys.exit(2)
