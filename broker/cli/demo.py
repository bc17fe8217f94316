"""``broker demo``: the multi-agency demo, end to end, on a real local Kafka."""

from __future__ import annotations

import asyncio

import typer

from broker.devtools.demo import already_running, default_settings, run_demo
from broker.devtools.demo_console import console_hint
from broker.errors import ConfigError

__all__ = ["demo"]


def demo(
    seed: int = typer.Option(2026, "--seed", help="Seed of the synthetic operation."),
) -> None:
    """Run the federation end to end: publish, route, deliver, receipts, hostile records."""
    settings = default_settings()
    if already_running(settings):
        raise ConfigError(
            "a local Kafka is already recorded in the demo home",
            detail=f"{settings.state_dir}: run `broker local down --home {settings.home}` first",
        )
    result = asyncio.run(run_demo(settings, seed=seed, say=typer.echo))
    typer.echo(f"   dossiers sent:            {result.sent}")
    typer.echo(f"   deliveries expected:      {result.deliveries_expected}")
    typer.echo(f"   delivered (exactly once): {result.delivered}  per agency: {result.per_agency}")
    typer.echo(f"   receipts DELIVERED:       {result.receipts_delivered}")
    typer.echo(f"   unacknowledged:           {result.unacknowledged}")
    typer.echo(f"   hostile injected/rejected: {result.hostile_injected}/{result.rejected}")
    typer.echo(
        f"   cross-border links:       {result.links_found} found, {result.links_true} true; "
        f"precision {result.precision:.2f}, recall {result.recall:.2f}"
    )
    typer.echo(f"   known-material hits:      {result.known_found}/{result.known_true}")
    typer.echo(
        f"   hit notifications:        {result.hit_notifications} "
        f"(release requests for restricted holdings: {result.release_requests})"
    )
    typer.echo(f"   recall, compliance:       {result.recalled}")
    for line in result.requests.summary() if result.requests is not None else []:
        typer.echo(line)
    if result.seizure is not None:
        typer.echo(f"   seized device:            {result.seizure.line()}")
    typer.echo(f"   wall time:                {result.seconds:.1f} s")
    typer.echo(
        f"   state kept in {settings.home} (try: broker receipts --as ES-PN --home {settings.home})"
    )
    if result.audit_export is not None:
        typer.echo(
            f"   audit export (verify offline): broker audit verify --archive "
            f"{result.audit_export} --home {settings.home}"
        )
    typer.echo(console_hint(settings))
    audit = (
        "OK" if not result.audit_findings else f"FAILED, {len(result.audit_findings)} finding(s)"
    )
    typer.echo(
        f"   audit log:                {audit}: {result.audit_events} events in "
        f"{result.audit_streams} streams, {result.audit_checkpoints} signed checkpoints, "
        f"{result.audit_rejections} rejection(s) recorded"
    )
    for line in result.audit_findings[:20]:
        typer.secho(f"     {line}", fg=typer.colors.RED)
    if not result.ok:
        typer.secho("DEMO FAILED: see the figures above", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.secho("DEMO OK", fg=typer.colors.GREEN)
