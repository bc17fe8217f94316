"""``broker local``: a real Apache Kafka on this machine (being built in issue 2)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Run a real local Apache Kafka from Maven Central jars.", no_args_is_help=True
)
