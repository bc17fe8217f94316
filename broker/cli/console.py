"""``broker console``: the analyst console, a local web application (broker.console).

Example::

    $ broker console --as ES-PN --follow        # the inbox, live; hits; grant/deny
    $ broker console --as EUROPOL               # ... plus the hub's pages
    $ broker console --auditor                  # audit verification, trails, proofs
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from pathlib import Path

import typer
import uvicorn

from broker import home
from broker.acls import AUDITOR
from broker.cli._common import HomeOption, settings_for
from broker.cli.network import kafka_known
from broker.config import Settings
from broker.connect import connection_for
from broker.console import ConsoleConfig, create_app
from broker.errors import ConfigError
from broker.topics import HUB
from broker.transport import KafkaConnection

__all__ = ["console"]


def _connector(settings: Settings, principal: str) -> KafkaConnection:
    return connection_for(settings, principal)


def console(
    agency: str | None = typer.Option(None, "--as", help="The national unit (or the hub)."),
    auditor: bool = typer.Option(False, "--auditor", help="The auditor's console instead."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (a loopback address unless you must)."
    ),
    follow: bool = typer.Option(
        False, "--follow", help="Also consume the agency's inbox, so dossiers appear live."
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Read the local state only: no Kafka, no actions."
    ),
    archive: Path | None = typer.Option(
        None,
        "--archive",
        help="Auditor: verify this export instead of fed.audit (default without Kafka: "
        "<home>/state/audit-export when it exists).",
    ),
    hub: str = typer.Option(HUB, "--hub", help="The hub's agency id (where grants go)."),
    home_dir: Path | None = HomeOption,
) -> None:
    """Serve the analyst console on 127.0.0.1 and print its one-off access URL.

    Pages render the agency's local state (inbox, receipts, hits, release requests; the
    hub's clusters) or the audit log's verification. Grant and deny go through the
    agency node like `broker hub grant`: signed and audited. The URL's token is
    exchanged for an HttpOnly, SameSite=Strict session cookie; every POST needs the
    session's CSRF token and the console's own Origin.
    """
    if (agency is None) == (not auditor):
        raise typer.BadParameter("give exactly one of --as AGENCY or --auditor")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        loopback = host == "localhost"
    if not loopback:
        typer.secho(f"warning: serving on {host}, reachable from the network", err=True)
    settings = settings_for(home_dir)
    online = not offline and kafka_known(settings)
    principal = AUDITOR if auditor else str(agency)
    connect = (lambda: _connector(settings, principal)) if online else None
    if auditor and archive is None and not online:
        default = settings.state_dir / "audit-export"
        if not default.is_dir():
            raise ConfigError("no Kafka known and no --archive: nothing to verify")
        archive = default
    if agency is not None and not home.agency_db(settings, agency).parent.exists() and not online:
        raise ConfigError(f"no state of {agency} under this home", detail=str(settings.home))
    if follow and connect is None:
        raise ConfigError("--follow needs Kafka (run `broker local up` or set KAFKA_BOOTSTRAP)")
    token = secrets.token_urlsafe(32)
    config = ConsoleConfig(
        settings=settings,
        agency=agency,
        auditor=auditor,
        connect=connect,
        archive=archive,
        follow=follow,
        host=host,
        port=port,
        hub=hub,
        token=token,
    )
    app = create_app(config)
    who = "the auditor" if auditor else agency
    mode = "read-only, no Kafka" if connect is None else "connected to Kafka"
    typer.echo(f"console for {who} ({mode}); open in a browser on this machine:")
    typer.echo(f"  {config.origin}/login?token={token}", nl=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    asyncio.run(server.serve())
