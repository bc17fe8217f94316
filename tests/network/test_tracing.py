"""One trace spans publish, the router and the recipient's handler (W3C context in headers)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from broker import telemetry
from broker.agency import Delivery
from broker.synthetic import example_dossier
from tests.network.conftest import Network


async def test_one_trace_spans_publisher_router_and_handler(network: Network) -> None:
    exporter = InMemorySpanExporter()
    telemetry.configure(service="tests", exporter=exporter)
    provider = trace.get_tracer_provider()
    if not isinstance(provider, trace.ProxyTracerProvider):
        # Another test may have configured the provider first: attach our exporter to it.
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        assert isinstance(provider, TracerProvider)
        provider.add_span_processor(SimpleSpanProcessor(exporter))

    async with network.node("ES-PN") as sender:
        published = await sender.publish_dossier(example_dossier(31), to=["DE-BKA"])
    await network.router().run(until_idle=2.0)
    handled: list[str] = []

    async def handler(delivery: Delivery) -> None:
        handled.append(delivery.envelope_id)

    async with network.node("DE-BKA") as recipient:
        await recipient.consume(handler=handler, until_idle=2.0, send_receipts=False)
    assert handled == [published.envelope_id]

    spans = exporter.get_finished_spans()
    by_name = {}
    for s in spans:
        if (s.attributes or {}).get("fed.envelope_id") == published.envelope_id:
            by_name[s.name] = s
    assert {"agency.publish", "router.route", "agency.deliver"} <= set(by_name)
    trace_ids = {s.context.trace_id for s in by_name.values()}
    assert len(trace_ids) == 1, "publish, route and deliver must share one trace"
    handler_spans = [s for s in spans if s.name == "agency.handler"]
    assert any(s.context.trace_id in trace_ids for s in handler_spans)
    # Nothing identifying from the dossier leaks into span attributes.
    dossier = example_dossier(31)
    secrets = {dossier.case_ref, dossier.summary}
    for person in dossier.persons:
        secrets |= {person.family_name, *(sel.value for sel in person.selectors)}
    values = {str(v) for s in spans for v in (s.attributes or {}).values()}
    assert not any(secret in value for secret in secrets for value in values)
