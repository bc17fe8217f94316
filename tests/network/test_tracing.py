"""One trace spans publish and the router; the recipient's batch span links to it (W3C context
in headers)."""

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
    handler_span: list[int] = []

    async def handler(delivery: Delivery) -> None:
        handled.append(delivery.envelope_id)
        handler_span.append(trace.get_current_span().get_span_context().span_id)

    async with network.node("DE-BKA") as recipient:
        await recipient.consume(handler=handler, until_idle=2.0, send_receipts=False)
    assert handled == [published.envelope_id]

    # By span id: the exporter may be attached twice (configure, then the branch above).
    spans = list({s.context.span_id: s for s in exporter.get_finished_spans()}.values())
    by_name = {}
    for s in spans:
        if (s.attributes or {}).get("fed.envelope_id") == published.envelope_id:
            by_name[s.name] = s
    assert {"agency.publish", "router.route"} <= set(by_name)
    trace_ids = {s.context.trace_id for s in by_name.values()}
    assert len(trace_ids) == 1, "publish and route must share one trace"
    # The recipient opens one span per fetched batch, linked to each record's producer
    # context (OTel messaging conventions, batch receive); handlers run inside it.
    (batch,) = [
        s
        for s in spans
        if s.name == "agency.deliver_batch"
        and published.envelope_id in _strings((s.attributes or {}).get("fed.envelope_ids"))
    ]
    assert batch.kind is trace.SpanKind.CONSUMER
    assert {link.context.trace_id for link in batch.links} == trace_ids
    assert handler_span == [batch.context.span_id]
    assert not [s for s in spans if s.name in ("agency.deliver", "agency.handler")]
    # Nothing identifying from the dossier leaks into span attributes.
    dossier = example_dossier(31)
    secrets = {dossier.case_ref, dossier.summary}
    for person in dossier.persons:
        secrets |= {person.family_name, *(sel.value for sel in person.selectors)}
    values = {str(v) for s in spans for v in (s.attributes or {}).values()}
    assert not any(secret in value for secret in secrets for value in values)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, tuple | list) else []
