"""Router attacks and failures (red-team findings F2, F4, F10), against the real broker."""

from __future__ import annotations

import hashlib
import logging
import os

import pytest

from broker.agency import Delivery
from broker.codec import SchemaStore
from broker.deadletter import MAX_ORIGINAL_BYTES, DeadLetter
from broker.envelope import MAX_ENVELOPE_BYTES
from broker.models.dossier import Attachment
from broker.router import Router
from broker.synthetic import example_dossier
from tests.kafka_helpers import alter_topic, read_all
from tests.network.conftest import Network
from tests.network.hostile import hostile_dossier, oversized_attachment, produce


def _audited_router(network: Network) -> Router:
    return network.router(audited=True)


def _router_events(network: Network) -> list[dict[str, object]]:
    store = SchemaStore.default()
    return [store.decode("eu.fed.AuditEvent", v) for v in network.router_journal()]


async def _delivered(network: Network, agency: str) -> list[Delivery]:
    got: list[Delivery] = []

    async def handler(delivery: Delivery) -> None:
        got.append(delivery)

    async with network.node(agency) as node:
        await node.consume(handler=handler, until_idle=2.0, send_receipts=False)
    return got


async def test_inbox_copy_refused_by_kafka_is_dead_lettered_not_committed_as_delivered(
    network: Network,
) -> None:
    # DE-BKA's inbox takes records of at most 4 KiB; ES-PN's outbox takes its 20 KiB dossier.
    await alter_topic(network.conn, network.layout.inbox("DE-BKA"), {"max.message.bytes": "4096"})
    big = example_dossier(21).model_copy(
        update={
            "attachments": [
                Attachment(
                    name="blob.bin",
                    media_type="application/octet-stream",
                    content=os.urandom(20_000),
                )
            ]
        }
    )
    async with network.node("ES-PN") as es:
        refused = await es.publish_dossier(big, to=["DE-BKA"])
        later = await es.publish_dossier(example_dossier(22), to=["PT-PJ"])

    router = _audited_router(network)
    stats = await router.run(until_idle=2.0)

    # Not committed away: the refused inbox copy became a dead letter to the sender, with
    # the reason, and the router went on to deliver the next dossier.
    assert (stats.routed, stats.rejected) == (1, 1)
    (raw,) = await read_all(network.conn, network.layout.rejected("ES-PN"), expect=1)
    letter = DeadLetter.from_bytes(raw)
    assert (letter.reason, letter.stage, letter.source_offset) == ("undeliverable", "ROUTER", 0)
    assert [d.envelope_id for d in await _delivered(network, "PT-PJ")] == [later.envelope_id]
    assert await _delivered(network, "DE-BKA") == []

    # DELIVER is audited only for the acknowledged write; the refused one is a REJECT.
    events = _router_events(network)
    delivers = [(e["envelope_id"], e["parties"]) for e in events if e["kind"] == "DELIVER"]
    assert delivers == [(later.envelope_id, ["ES-PN", "PT-PJ"])]
    rejects = [e for e in events if e["kind"] == "REJECT"]
    assert [(e["reason"], e["envelope_sha256"]) for e in rejects] == [
        ("undeliverable", letter.envelope_sha256)
    ]
    assert refused.envelope_id not in {e["envelope_id"] for e in events if e["kind"] != "REJECT"}


async def test_dead_letter_refused_by_kafka_is_audited_and_does_not_stall_the_router(
    network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    # The sender's rejected topic refuses this dead letter (1 KiB records at most; large
    # enough for transaction markers): the junk record's loss is logged and audited with
    # its hash, and the offset moves on to the next dossier.
    await alter_topic(network.conn, network.layout.rejected("ES-PN"), {"max.message.bytes": "1024"})
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(network.layout.outbox("ES-PN"), b"\x00junk" * 400)
    finally:
        await producer.stop()
    async with network.node("ES-PN") as es:
        later = await es.publish_dossier(example_dossier(23), to=["PT-PJ"])

    stats = await _audited_router(network).run(until_idle=2.0)
    assert (stats.routed, stats.rejected) == (1, 1)
    assert [d.envelope_id for d in await _delivered(network, "PT-PJ")] == [later.envelope_id]
    rejects = [e for e in _router_events(network) if e["kind"] == "REJECT"]
    assert [e["reason"] for e in rejects] == ["malformed"]
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("dead letter" in m and "lost" in m for m in lost), lost
    # Nothing more to route: the offset was committed past the junk record.
    assert (await network.router().run(until_idle=1.0)).consumed == 0


async def test_oversized_envelope_is_refused_by_the_router_as_too_large_with_a_small_dead_letter(
    network: Network,
) -> None:
    # IT-PS signs a ~1,000,000-byte envelope to DE-BKA: its outbox takes it (Kafka's limit is
    # about 1 MiB) but the router refuses it before any check, with a bounded dead letter.
    hostile = hostile_dossier(
        network, sender="IT-PS", to=["DE-BKA"], mutate=oversized_attachment(1_000_000)
    )
    assert MAX_ENVELOPE_BYTES < len(hostile) < 1_040_000
    await produce(network, network.layout.outbox("IT-PS"), hostile)
    async with network.node("ES-PN") as es:
        later = await es.publish_dossier(example_dossier(24), to=["DE-BKA"])

    stats = await _audited_router(network).run(until_idle=2.0)
    assert (stats.routed, stats.rejected) == (1, 1)
    (raw,) = await read_all(network.conn, network.layout.rejected("IT-PS"), expect=1)
    letter = DeadLetter.from_bytes(raw)
    assert (letter.reason, letter.stage, letter.detail) == ("too-large", "ROUTER", None)
    assert len(raw) < 2 * MAX_ORIGINAL_BYTES and letter.original_size == len(hostile)
    assert letter.envelope_sha256 == hashlib.sha256(hostile).digest()
    assert [d.envelope_id for d in await _delivered(network, "DE-BKA")] == [later.envelope_id]
    rejects = [e for e in _router_events(network) if e["kind"] == "REJECT"]
    assert [e["reason"] for e in rejects] == ["too-large"]
