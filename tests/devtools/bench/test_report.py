"""The benchmark's own arithmetic and fixtures (no Kafka): medians, pairing, sizes, percentiles."""

from __future__ import annotations

import doctest

import pytest

from broker.devtools.bench import audit, latency, memory, report, scaling, workload
from broker.devtools.bench.latency import percentile
from broker.devtools.bench.report import HEADLINE, Cell, Report, median
from broker.devtools.bench.workload import dossier_payload


@pytest.mark.parametrize("module", [audit, latency, memory, report, scaling, workload])
def test_docstring_examples_run(module: object) -> None:
    failures, _ = doctest.testmod(module)  # type: ignore[arg-type]
    assert failures == 0


@pytest.mark.parametrize("size", [1024, 4096, 65536])
def test_dossiers_have_exactly_the_asked_size(size: int) -> None:
    assert len(dossier_payload(size)) == size


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0


def test_ratios_are_paired_per_repetition() -> None:
    # Drift: the machine is twice as fast in repetition 2, for both sides alike.
    cell = Cell(size=4096, recipients=3, suite="classic", count=10)
    cell.plain_produce += [100.0, 200.0, 150.0]
    cell.publish += [50.0, 100.0, 75.0]
    cell.plain_consume += [10.0, 20.0, 30.0]
    cell.consume += [1.0, 2.0, 3.0]
    figures = cell.to_json()
    assert figures["publish_ratio"] == 0.5
    assert figures["consume_ratio"] == pytest.approx(0.1)
    assert figures["publish_per_s"] == median([50.0, 100.0, 75.0])


def test_report_has_every_headline_key() -> None:
    cells = []
    for suite in ("classic", "pq-hybrid"):
        for n in (1, 3, 10):
            cell = Cell(size=HEADLINE[0], recipients=n, suite=suite, count=10)
            cell.plain_produce.append(1000.0)
            cell.plain_consume.append(2000.0)
            cell.publish.append(100.0 / n)
            cell.consume.append(500.0)
            cells.append(cell)
    scaled = {"met": True, "interaction_us": 1.0, "seal_us": {}}
    data = Report(
        repetitions=1,
        cells=cells,
        e2e={
            "p50_ms": 5.0,
            "p99_ms": 60.0,
            "max_ms": 70.0,
            "offered_per_s": 1000.0,
            "achieved_per_s": 990.0,
            "delivered": 100,
            "seconds": 1.0,
        },
        audit_verify_events_per_s=60_000.0,
        audit_verifier="test",
        seal_scaling={"classic": scaled, "pq-hybrid": scaled},
        rss_peak_mib={"bench_process": 1.0},
        environment={},
    ).to_json()
    assert data["publish_ratio_classic"] == 0.1 / 3
    assert data["consume_ratio_pq"] == 0.25
    assert data["targets"]["e2e_p99_ms"]["met"] is False
    assert data["targets"]["audit_verify_events_per_s"]["met"] is True
    assert data["targets"]["recipients_cost_only_in_wraps"]["met"] is True
    # 100/n envelopes/s is 10,000 us x n per envelope: 10,000 us per extra recipient.
    assert data["recipient_slope_us"]["classic_4096"] == pytest.approx(10_000.0)
