"""``broker bench pdq-erase``: one recall at the hub's PDQ index, and the snapshot after it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from broker.cli import app


def test_bench_pdq_erase_prints_its_costs_and_the_erased_hash_is_not_saved() -> None:
    out = CliRunner().invoke(app, ["bench", "pdq-erase", "--hashes", "1000", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert (got["hashes"], got["live_after"], got["erased_hash_in_snapshot"]) == (1000, 999, False)
    assert got["erase_cpu_ms"] >= got["pdq_erase_cpu_ms"] >= 0
    assert got["compacting_save_cpu_ms"] > 0 and got["withdraw_cpu_ms"] >= 0
