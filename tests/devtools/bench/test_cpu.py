"""The offline CPU figures run the real node paths (no Kafka: a producer that acks at once)."""

from __future__ import annotations

import asyncio
import json
import math

from typer.testing import CliRunner

from broker.audit.journal import AuditJournal
from broker.cli import app
from broker.devtools.bench import cpu_consume, floor
from broker.devtools.bench.cpu_publish import TO
from broker.devtools.bench.offline import (
    OfflineConnection,
    close_offline,
    offline_federation,
    offline_node,
)
from broker.devtools.bench.report import CPU_KEYS, HEADLINE, Cell, Report
from broker.devtools.bench.workload import SENDER, dossier


def test_offline_publish_goes_through_seal_store_and_audit() -> None:
    message = dossier(4096)

    async def publish() -> tuple[int, int, int]:
        with offline_federation() as (fed, state):
            conn = OfflineConnection()
            node = offline_node(fed, SENDER, state=state, conn=conn, suite="classic")
            try:
                await node.publish_many(
                    [message.to_bytes()] * 5,
                    kind="DOSSIER",
                    codes=message.codes.to_avro(),
                    to=TO,
                )
                sent = len(node.store.sent())
            finally:
                close_offline(node)
            journal = AuditJournal.open(state / SENDER / "audit.db", stream=SENDER)
            try:
                events = len(journal.events())
            finally:
                journal.close()
            return len(conn.sent), sent, events

    assert asyncio.run(publish()) == (5, 5, 5)


def test_offline_consume_opens_and_stores_every_envelope() -> None:
    # consume_cpu_us raises BenchError unless every dossier was delivered (stored).
    us = cpu_consume.consume_cpu_us("classic", 8)
    assert math.isfinite(us)
    assert us > 0


def test_floor_keys_follow_the_envelope_format() -> None:
    figures = floor.floors(quick=True)
    assert figures["kem"] == floor.kem_mode()
    for side in ("publish", "consume"):
        for suite in ("classic", "pq"):
            assert figures[f"floor_us_{side}_{suite}"] > 0
    assert figures["primitives_us"]["pq"]["ml_dsa_65_sign"] > 0
    assert figures["primitives_us"]["classic"]["ml_dsa_65_sign"] == 0


def test_report_carries_cpu_and_sweep_keys_beside_the_old_ones() -> None:
    cells = []
    for suite in ("classic", "pq-hybrid"):
        for n in (1, 3, 10):
            cell = Cell(size=HEADLINE[0], recipients=n, suite=suite, count=10)
            cell.plain_produce.append(1000.0)
            cell.plain_consume.append(2000.0)
            cell.publish.append(500.0)
            cell.consume.append(500.0)
            cells.append(cell)
    scaled = {"met": True, "interaction_us": 1.0, "seal_us": {}}
    cpu = {key: 400.0 for key in CPU_KEYS} | {"cpu_detail": {"kem": "per-envelope"}}
    data = Report(
        repetitions=1,
        cells=cells,
        e2e={"p50_ms": 5.0, "p99_ms": 60.0},
        audit_verify_events_per_s=60_000.0,
        audit_verifier="test",
        seal_scaling={"classic": scaled, "pq-hybrid": scaled},
        rss_peak_mib={},
        environment={"loadavg_end": [1.0, 1.0, 1.0]},
        cpu=cpu,
        sweep={"max_rate_p99_50ms": 750.0, "e2e_p99_ms_at_500": 30.0, "steps": []},
    ).to_json()
    assert all(data[key] == 400.0 for key in CPU_KEYS)
    assert data["publish_ratio_classic"] == 0.5  # the old keys stay
    targets = data["targets"]
    assert targets["cpu_us_publish_classic"]["met"] is False  # 400 > 300
    assert targets["cpu_us_consume_classic"]["met"] is True  # 400 <= 500
    assert targets["max_rate_p99_50ms"]["met"] is False
    assert data["e2e_p99_ms_at_500"] == 30.0
    assert data["loadavg"] == [1.0, 1.0, 1.0]


def test_bench_cpu_prints_every_cpu_figure_and_its_floor_without_kafka() -> None:
    out = CliRunner().invoke(app, ["bench", "cpu", "--runs", "1", "--envelopes", "8", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    for key in CPU_KEYS:
        assert got[key] > 0, key
    assert got["cpu_detail"]["runs"] == 1 and got["cpu_detail"]["envelopes_per_run"] == 8
