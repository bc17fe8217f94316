"""``broker bench``: the cost of every security guarantee against plain aiokafka.

Example::

    $ broker bench --quick --json
"""

from __future__ import annotations

import asyncio
import json

import typer

from broker.devtools.bench.runner import CRYPTO_WORKERS, Options, run

__all__ = ["bench"]


def bench(
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object (the table goes to stderr)."
    ),
    quick: bool = typer.Option(False, "--quick", help="Smoke test: one repetition, small counts."),
    repetitions: int | None = typer.Option(
        None, "--repetitions", min=1, help="Repetitions (default 3; 1 with --quick)."
    ),
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        envvar="KAFKA_BOOTSTRAP",
        help="Use this Kafka instead of starting a 1-node local one.",
    ),
    crypto_workers: int = typer.Option(
        CRYPTO_WORKERS, "--crypto-workers", min=0, help="Forked seal/open workers per node."
    ),
    e2e_seconds: float | None = typer.Option(
        None, "--e2e-seconds", min=1, help="Seconds of offered load for the latency run."
    ),
) -> None:
    """Measure secure vs plain throughput, end-to-end latency and the highest rate at p99 <= 50 ms,
    offline CPU per envelope against its primitive floor, audit verify rate, peak RSS."""
    options = Options(
        quick=quick,
        repetitions=repetitions,
        bootstrap=bootstrap,
        e2e_seconds=e2e_seconds,
        crypto_workers=crypto_workers,
        progress=lambda line: typer.echo(line, err=True),
    )
    report = asyncio.run(run(options=options))
    if as_json:
        # The table goes to stderr, so one run gives both the JSON and the table.
        typer.echo(report.table(), err=True)
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=False))
    else:
        typer.echo(report.table())
