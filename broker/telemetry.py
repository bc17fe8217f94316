"""Traces and metrics: one trace from publish, through the router, to the handler.

W3C trace context travels in Kafka record headers (``traceparent``,
``tracestate``), injected and extracted by OpenTelemetry's own propagator. Only
ids, agency names, topics, kinds and reason codes go into headers and span
attributes — never dossier content.

The exporter is chosen by ``BROKER_OTEL_EXPORTER``: ``none`` (default),
``console``, or ``otlp`` (needs the ``opentelemetry-exporter-otlp`` package and
the usual ``OTEL_EXPORTER_OTLP_*`` variables). With ``none`` no SDK tracer provider
is installed at all (a recording provider with nowhere to send costs ~100 µs per
consumed record). Tests install an in-memory exporter with :func:`configure`
(``exporter=...``).

A consumer opens one span per fetched batch (:func:`batch_span`), linked to each
record's producer context, as the OpenTelemetry messaging conventions suggest for
batch receive — not one span per record.

Example::

    >>> headers = inject_context([])
    >>> extract_context(headers) is not None
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from broker.errors import ConfigError

__all__ = [
    "Metrics",
    "batch_span",
    "configure",
    "extract_context",
    "inject_context",
    "recording",
    "span",
    "tracer",
]

_configured = False

Headers = Sequence[tuple[str, bytes]]


def configure(*, service: str, exporter: SpanExporter | None = None) -> None:
    """Install the tracer provider for this process (once; later calls are ignored).

    ``exporter`` overrides ``BROKER_OTEL_EXPORTER`` (used by tests with an in-memory one).
    """
    global _configured
    if _configured:
        return
    choice = os.environ.get("BROKER_OTEL_EXPORTER", "none").lower()
    if exporter is None and choice == "none":
        _configured = True  # no provider: the API's no-op tracer, nothing recorded
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        if choice == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif choice == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                    OTLPSpanExporter,
                )
            except ImportError as exc:
                raise ConfigError(
                    "BROKER_OTEL_EXPORTER=otlp needs the OTLP exporter",
                    detail="pip install 'dossier-broker[otlp]'",
                ) from exc
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif choice != "none":
            raise ConfigError(
                f"unknown BROKER_OTEL_EXPORTER {choice!r}", detail="use none, console or otlp"
            )
    trace.set_tracer_provider(provider)
    _configured = True


def tracer() -> trace.Tracer:
    """Return the package's tracer."""
    return trace.get_tracer("dossier-broker")


def inject_context(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Append the current trace context to Kafka ``headers`` and return them."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers.extend((k, v.encode("ascii")) for k, v in carrier.items())
    return headers


def extract_context(headers: Headers | None) -> Context:
    """Return the trace context carried by Kafka ``headers`` (empty context if none)."""
    carrier: dict[str, str] = {}
    for key, value in headers or ():
        if key in ("traceparent", "tracestate") and value is not None:
            try:
                carrier[key] = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                continue  # a malformed header is ignored, never trusted
    return propagate.extract(carrier)


@contextmanager
def span(
    name: str,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    context: Context | None = None,
    attributes: dict[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """Open a span (optionally as a child of ``context``) with content-free attributes."""
    with tracer().start_as_current_span(
        name, kind=kind, context=context, attributes=attributes
    ) as current:
        yield current


def recording() -> bool:
    """Whether an SDK tracer provider is installed (spans are recorded somewhere)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


@contextmanager
def batch_span(
    name: str,
    *,
    headers: Sequence[Headers | None],
    attributes: dict[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """Open one CONSUMER span for a fetched batch, linked to each record's producer context.

    The links are only extracted when spans are recorded (:func:`recording`).
    """
    links: list[trace.Link] = []
    if recording():
        for record_headers in headers:
            ctx = trace.get_current_span(extract_context(record_headers)).get_span_context()
            if ctx.is_valid:
                links.append(trace.Link(ctx))
    with tracer().start_as_current_span(
        name, kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes
    ) as current:
        yield current


class Metrics:
    """The counters and histograms every node reports."""

    def __init__(self) -> None:
        meter = metrics.get_meter("dossier-broker")
        self.published = meter.create_counter("broker.published", description="envelopes published")
        self.routed = meter.create_counter(
            "broker.routed", description="envelope deliveries routed"
        )
        self.delivered = meter.create_counter(
            "broker.delivered", description="envelopes delivered to a handler"
        )
        self.rejected = meter.create_counter(
            "broker.rejected", description="records dead-lettered, by reason"
        )
        self.open_latency = meter.create_histogram(
            "broker.open_latency", unit="ms", description="verify+decrypt time per envelope"
        )
