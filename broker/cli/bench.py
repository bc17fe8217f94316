"""``broker bench``: the cost of every security guarantee against plain aiokafka.

Example::

    $ broker bench --quick --json
    $ broker bench hub --reference 1000000 --queries 20000 --json
    $ broker bench shred --json
    $ broker bench retention --dossiers 1000000 --json
    $ broker bench pdq-erase --hashes 1000000 --json
    $ broker bench cpu --json
"""

from __future__ import annotations

import asyncio
import json

import typer

from broker.devtools.bench.large import LARGE_MEDIA_REFS, run_large_bench
from broker.devtools.bench.runner import CRYPTO_WORKERS, Options, run

__all__ = ["app", "bench"]

app = typer.Typer(
    help="Measure the broker: secure vs plain Kafka (no subcommand), the hub's matching (hub), "
    "the crypto-shredding bound after a recall (shred), the retention sweep (retention), "
    "one recall at the hub's PDQ index (pdq-erase), "
    "or only the CPU per envelope against its primitive floor (cpu, no Kafka).",
    invoke_without_command=True,
)


@app.callback()
def bench(
    ctx: typer.Context,
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
    large: bool = typer.Option(
        False,
        "--large",
        help="Only the large run: a 360,000-reference dossier streamed through publisher, "
        "router and receiver processes (e2e s, peak RSS), and media hash files/s.",
    ),
    large_refs: int = typer.Option(
        LARGE_MEDIA_REFS, "--large-refs", min=1, help="References of the --large dossier."
    ),
) -> None:
    """Measure secure vs plain throughput, end-to-end latency and the highest rate at p99 <= 50 ms,
    offline CPU per envelope against its primitive floor, audit verify rate, peak RSS;
    with --large, a streamed large dossier instead."""
    if ctx.invoked_subcommand is not None:
        return
    if large:
        out = run_large_bench(bootstrap=bootstrap, refs=large_refs)
        typer.echo(json.dumps(out, indent=2) if as_json else _large_table(out))
        return
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


@app.command()
def hub(
    reference: int = typer.Option(1_000_000, "--reference", min=1, help="Reference hashes."),
    queries: int = typer.Option(20_000, "--queries", min=10, help="Queries in the batch run."),
    seizure: int = typer.Option(360_000, "--seizure", min=1, help="Hashes of the seizure."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Build and batch runs (median)."),
    processes: int = typer.Option(
        1, "--processes", min=1, help="Also query the seizure in this many processes (>1)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Threads per batch query (default: every CPU)."
    ),
    no_kafka: bool = typer.Option(
        False, "--no-kafka", help="Skip hub_update_visible_s (needs Kafka)."
    ),
    bootstrap: str | None = typer.Option(
        None, "--bootstrap", envvar="KAFKA_BOOTSTRAP", help="Kafka to use (default: start one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The hub's hash index: build, q/s, p99, recall, false matches, RSS, update latency."""
    from broker.devtools.bench.hub import run as run_hub

    out = run_hub(
        reference=reference,
        queries=queries,
        seizure=seizure,
        repeat=repeat,
        processes=processes,
        workers=workers,
        bootstrap=bootstrap,
        kafka=not no_kafka,
    )
    _emit(out, as_json=as_json)


@app.command()
def shred(
    transit_s: float = typer.Option(
        60.0, "--transit-s", min=1, help="The router's transit window for this run (24 h live)."
    ),
    bootstrap: str | None = typer.Option(
        None, "--bootstrap", envvar="KAFKA_BOOTSTRAP", help="Kafka to use (default: start one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Seconds from a recall until no key left opens any Kafka copy of the dossier (wall time)."""
    from broker.devtools.bench.shred import run_shred_bench

    out = asyncio.run(run_shred_bench(bootstrap=bootstrap, transit_s=transit_s))
    _emit(out, as_json=as_json)


@app.command()
def retention(
    dossiers: int = typer.Option(100_000, "--dossiers", min=1, help="Dossiers held (1% due)."),
    runs: int = typer.Option(5, "--runs", min=1, help="Timed runs (the median is printed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """CPU of one retention sweep with N dossiers held: the index against a full scan."""
    from broker.devtools.bench.retention import run_retention_bench

    out = run_retention_bench(dossiers=dossiers, runs=runs)
    _emit(out, as_json=as_json)


@app.command("pdq-erase")
def pdq_erase(
    hashes: int = typer.Option(1_000_000, "--hashes", min=2, help="PDQ hashes the hub holds."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """CPU of one recall at the hub's PDQ index: the erasure and the compacting save."""
    from broker.devtools.bench.pdq_erase import run_pdq_erase_bench

    _emit(run_pdq_erase_bench(hashes=hashes), as_json=as_json)


@app.command()
def cpu(
    runs: int = typer.Option(3, "--runs", min=1, help="Runs per figure (the median is printed)."),
    envelopes: int = typer.Option(640, "--envelopes", min=1, help="Envelopes per run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Process CPU per envelope (publish, consume; classic, pq-hybrid) and its primitive floor:
    the ``cpu_us_*`` and ``floor_us_*`` figures of ``broker bench``, without Kafka."""
    from broker.devtools.bench.cpu import cpu_figures

    out = cpu_figures(runs=runs, envelopes=envelopes, say=lambda line: typer.echo(line, err=True))
    _emit(out, as_json=as_json)


def _emit(out: dict[str, object], *, as_json: bool) -> None:
    """Print ``out`` as one JSON object, or one ``key: value`` line per entry."""
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            typer.echo(f"{key}: {value}")


def _large_table(out: dict[str, object]) -> str:
    return "\n".join(f"{k:32} {v}" for k, v in out.items())
