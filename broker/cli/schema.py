"""``broker schema``: maintainer commands for the Avro schema history."""

from __future__ import annotations

import typer

from broker.codec import SchemaStore, schemas_dir
from broker.schema_history import publish as publish_schemas

app = typer.Typer(help="Avro schema history (maintainers).", no_args_is_help=True)


@app.command()
def publish() -> None:
    """Record the current version of every top-level schema under schemas/published/."""
    written = publish_schemas(SchemaStore.default(), schemas_dir())
    for path in written:
        typer.echo(f"published {path}")
    if not written:
        typer.echo("every current schema is already published")


@app.command("list")
def list_schemas() -> None:
    """List current schemas with their fingerprints."""
    store = SchemaStore.default()
    for name in store.names:
        typer.echo(f"{store.fingerprint(name).hex()}  {name}")
