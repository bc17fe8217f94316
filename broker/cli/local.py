"""``broker local``: run a real Apache Kafka on this machine from Maven Central jars.

Example::

    $ broker local fetch              # once: jars into ~/.cache/dossier-broker
    $ broker local up --nodes 3       # records <home>/state/local-kafka.json
    $ broker local status --json
    $ broker local down               # stops exactly the JVMs `up` started
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from broker.config import Settings
from broker.errors import LocalKafkaError
from broker.local import LocalCluster, fetch_jars, kafka_version, read_record

app = typer.Typer(
    help="Run a real local Apache Kafka (KRaft) from Maven Central jars.", no_args_is_help=True
)

HomeOption = typer.Option(
    None, "--home", envvar="BROKER_HOME", help="Federation home directory (default: cwd)."
)


def _settings(home: Path | None) -> Settings:
    return Settings(home=home) if home is not None else Settings()


@app.command()
def fetch(home: Path | None = HomeOption) -> None:
    """Download the pinned Kafka jars into the cache (once; reused afterwards)."""
    settings = _settings(home)
    libs = fetch_jars(cache_dir=settings.cache_dir, quiet=True)
    typer.echo(f"Kafka {kafka_version()} jars ready in {libs}")


@app.command()
def up(
    nodes: int = typer.Option(1, "--nodes", help="1 (combined node) or 3 (rf 3, min ISR 2)."),
    tls: bool = typer.Option(False, "--tls", help="Mutual TLS with per-principal certificates."),
    home: Path | None = HomeOption,
) -> None:
    """Start a local Kafka and wait until it answers; record where it is."""
    settings = _settings(home)
    record = read_record(settings.state_dir)
    if record is not None:
        cluster = LocalCluster.attach(state_dir=settings.state_dir)
        if cluster.running_pids():
            typer.echo(f"already running: {cluster.bootstrap}")
            return
        raise LocalKafkaError(
            "a local Kafka is recorded here but none of its JVMs is running",
            detail=f"{cluster.record_file}: run `broker local down` to clear it, then `up`",
        )
    cluster = asyncio.run(
        LocalCluster.start(
            state_dir=settings.state_dir, cache_dir=settings.cache_dir, nodes=nodes, tls=tls
        )
    )
    mode = "mTLS" if tls else "plaintext"
    typer.echo(f"Kafka {kafka_version()} up ({nodes} node(s), {mode}): {cluster.bootstrap}")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: Path | None = HomeOption,
) -> None:
    """Show the recorded local Kafka and whether its JVMs are running."""
    settings = _settings(home)
    if read_record(settings.state_dir) is None:
        if as_json:
            typer.echo(json.dumps({"running": False}))
        else:
            typer.echo("no local Kafka recorded here")
        raise typer.Exit(1)
    cluster = LocalCluster.attach(state_dir=settings.state_dir)
    alive = set(cluster.running_pids())
    nodes = [
        {
            "node_id": n.node_id,
            "pid": n.pid,
            "running": n.pid in alive,
            "client_port": n.client_port,
            "controller_port": n.controller_port,
            "log": str(n.log_file),
        }
        for n in cluster.nodes
    ]
    running = bool(alive)
    if as_json:
        payload = {
            "running": running,
            "bootstrap": cluster.bootstrap,
            "tls": cluster.tls,
            "kafka_version": cluster.version,
            "record": str(cluster.record_file),
        }
        typer.echo(json.dumps(payload | {"nodes": nodes}))
    else:
        mode = "mTLS" if cluster.tls else "plaintext"
        typer.echo(f"Kafka {cluster.version} at {cluster.bootstrap} ({mode})")
        for n in nodes:
            state = "running" if n["running"] else "STOPPED"
            typer.echo(
                f"  node {n['node_id']}: pid {n['pid']} {state}  ports {n['client_port']}/"
                f"{n['controller_port']}  log {n['log']}"
            )
    if not running:
        raise typer.Exit(1)


@app.command()
def down(
    keep_data: bool = typer.Option(
        False, "--keep-data", help="Keep data and logs for inspection (until the next `up`)."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Stop exactly the JVMs `broker local up` started (SIGTERM, then SIGKILL); remove data."""
    settings = _settings(home)
    if read_record(settings.state_dir) is None:
        typer.echo("no local Kafka recorded here")
        return
    cluster = LocalCluster.attach(state_dir=settings.state_dir)
    asyncio.run(cluster.stop(keep_data=keep_data))
    typer.echo("local Kafka stopped" + (" (data kept)" if keep_data else ""))
