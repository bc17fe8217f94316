"""``broker chaos``: reliability and attack scenarios on a real local Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from broker.devtools.chaos import SCENARIOS, Sizes, render_json, render_table, run_chaos

__all__ = ["chaos"]

_NAMES = ", ".join(SCENARIOS)


def chaos(
    quick: bool = typer.Option(False, "--quick", help="Shrink every scenario (a few minutes)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one per scenario."),
    scenario: list[str] = typer.Option(
        [], "--scenario", help="Run only this scenario (repeatable): " + _NAMES + "."
    ),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Where to keep the temporary clusters (default: system temp)."
    ),
    save: Path | None = typer.Option(None, "--save", help="Also write the JSON list to this file."),
) -> None:
    """Run each scenario; print the table (exit 1 unless every scenario is OK)."""
    sizes = Sizes.quick() if quick else Sizes.full()
    say = (lambda _: None) if as_json else typer.echo
    results = asyncio.run(run_chaos(sizes=sizes, names=scenario or None, workdir=workdir, say=say))
    if save is not None:
        save.write_text(render_json(results) + "\n")
    typer.echo(render_json(results) if as_json else render_table(results))
    if not all(r.ok for r in results):
        raise typer.Exit(1)
