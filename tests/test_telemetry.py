"""Telemetry configuration and W3C trace-context propagation through Kafka headers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from broker import telemetry


def test_trace_context_round_trips_through_kafka_headers() -> None:
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        headers = telemetry.inject_context([])
    assert [k for k, _ in headers] == ["traceparent"]
    ctx = telemetry.extract_context(headers)
    assert trace.get_current_span(ctx).get_span_context().trace_id == (
        parent.get_span_context().trace_id
    )


def test_malformed_trace_header_is_ignored_not_trusted() -> None:
    ctx = telemetry.extract_context([("traceparent", b"\xff\xfe garbage")])
    assert not trace.get_current_span(ctx).get_span_context().is_valid


def test_unknown_exporter_is_a_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, BROKER_OTEL_EXPORTER="bogus")
    result = subprocess.run(
        [sys.executable, "-m", "broker", "router", "run", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown BROKER_OTEL_EXPORTER" in result.stderr


def test_exporter_none_installs_no_sdk_provider() -> None:
    code = (
        "from opentelemetry import trace\n"
        "from broker import telemetry\n"
        "telemetry.configure(service='x')\n"
        "print(type(trace.get_tracer_provider()).__name__, telemetry.recording())\n"
    )
    env = dict(os.environ, BROKER_OTEL_EXPORTER="none")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["ProxyTracerProvider", "False"]


def test_batch_span_links_each_records_producer_context() -> None:
    code = (
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from broker import telemetry\n"
        "out = InMemorySpanExporter()\n"
        "telemetry.configure(service='x', exporter=out)\n"
        "tracer = TracerProvider().get_tracer('producer')\n"
        "heads, ids = [], []\n"
        "for name in 'ab':\n"
        "    with tracer.start_as_current_span(name) as s:\n"
        "        heads.append(telemetry.inject_context([]))\n"
        "        ids.append(s.get_span_context().span_id)\n"
        "heads += [None, [('traceparent', b'garbage')]]\n"
        "with telemetry.batch_span('batch', headers=heads):\n"
        "    pass\n"
        "(span,) = out.get_finished_spans()\n"
        "print(sorted(ids) == sorted(l.context.span_id for l in span.links), span.kind.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["True", "CONSUMER"]
