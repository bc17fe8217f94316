"""``broker bench --quick`` on the session's real Kafka: it completes and reports every figure.

A smoke test, not a speed test: figures on a shared machine are noise, so only
their presence, type and sign are asserted.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys

import pytest

pytestmark = [pytest.mark.kafka]

HEADLINE_KEYS = [
    "publish_ratio_classic",
    "publish_ratio_pq",
    "consume_ratio_classic",
    "consume_ratio_pq",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "audit_verify_events_per_s",
    "repetitions",
    "cpu_us_publish_classic",
    "cpu_us_publish_pq",
    "cpu_us_consume_classic",
    "cpu_us_consume_pq",
    "floor_us_publish_classic",
    "floor_us_publish_pq",
    "floor_us_consume_classic",
    "floor_us_consume_pq",
    "e2e_p99_ms_at_500",
]
CELL_KEYS = [
    "plain_produce_per_s",
    "plain_consume_per_s",
    "publish_per_s",
    "consume_per_s",
    "publish_ratio",
    "consume_ratio",
    "envelope_bytes",
]


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


async def test_bench_quick_reports_every_figure(kafka_bootstrap: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broker",
        "bench",
        "--quick",
        "--json",
        env={**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 900)
    assert proc.returncode == 0, err.decode()[-3000:]
    report = json.loads(out)

    for key in HEADLINE_KEYS:
        assert _positive(report[key]), (key, report[key])
    assert report["repetitions"] == 1
    cells = {(c["size"], c["recipients"], c["suite"]) for c in report["cells"]}
    assert cells == {
        (size, n, suite)
        for size in (1024, 4096, 65536)
        for n in (1, 3, 10)
        for suite in ("classic", "pq-hybrid")
    }
    for cell in report["cells"]:
        for key in CELL_KEYS:
            assert _positive(cell[key]), (cell, key)
    # 0 when no rate met the goal (a loaded machine); the sweep always ran steps.
    assert report["max_rate_p99_50ms"] >= 0
    assert len(report["sweep_steps"]) >= 2
    assert report["e2e"]["delivered"] > 0
    assert report["e2e"]["offered_per_s"] > 0
    for process in ("bench_process", "router_subprocess", "receiver_subprocess"):
        assert _positive(report["rss_peak_mib"][process]), process
    assert set(report["targets"]) >= {
        "publish_ratio_classic",
        "e2e_p99_ms",
        "audit_verify_events_per_s",
    }
    assert all(isinstance(t["met"], bool) for t in report["targets"].values())
    for suite in ("classic", "pq-hybrid"):
        assert _positive(report["seal_scaling"][suite]["wrap_us_per_recipient_1KiB"])
