"""The matching benchmark runs end to end on a small index (no timing assertions)."""

from __future__ import annotations

from broker.devtools.bench.hub_index import run


def test_small_bench_reports_exact_recall() -> None:
    result = run(reference=5_000, queries=500, seizure=500, repeat=1)
    assert result["hub_recall"] == 1.0
    assert result["hub_false_matches"] == 0
    assert result["hub_wrong_distances"] == 0
    assert result["hub_bruteforce_mismatches"] == 0
    for key in (
        "hub_build_s",
        "hub_queries_per_s",
        "hub_query_p99_ms",
        "hub_peak_rss_mib",
        "hub_seizure_s",
    ):
        assert result[key] >= 0
