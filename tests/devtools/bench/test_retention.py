"""``broker bench retention``: the index and a full scan find the same dossiers due."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from broker.cli import app


def test_bench_retention_prints_both_costs_and_that_they_agree() -> None:
    out = CliRunner().invoke(
        app, ["bench", "retention", "--dossiers", "500", "--runs", "1", "--json"]
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert (got["dossiers"], got["due"], got["runs"], got["agree"]) == (500, 5, 1, True)
    assert got["due_cpu_ms"] >= 0 and got["scan_cpu_ms"] > 0
