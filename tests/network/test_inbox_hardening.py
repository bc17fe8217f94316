"""Attacks on an agency's inbox (red-team findings F2, F8, F9), against the real broker."""

from __future__ import annotations

import hashlib

from broker.agency import Delivery
from broker.agency.results import ConsumeStats
from broker.codec import SchemaStore
from broker.deadletter import MAX_ORIGINAL_BYTES, DeadLetter
from broker.envelope import Verifier
from broker.synthetic import example_dossier
from broker.trust import load_identity, load_trust
from tests.kafka_helpers import alter_topic, read_all
from tests.network.conftest import Network
from tests.network.hostile import hostile_dossier, oversized_attachment, produce


async def _consume(
    network: Network, agency: str, *, send_receipts: bool = False
) -> tuple[list[Delivery], ConsumeStats]:
    got: list[Delivery] = []

    async def handler(delivery: Delivery) -> None:
        got.append(delivery)

    async with network.node(agency) as node:
        stats = await node.consume(handler=handler, until_idle=2.0, send_receipts=send_receipts)
    return got, stats


async def test_near_limit_hostile_envelope_does_not_stall_the_victims_inbox(
    network: Network,
) -> None:
    # IT-PS signs, with its own key, an envelope just under the size limit whose dossier
    # fails DE-BKA's validation: its dead letter must stay small enough to be written.
    hostile = hostile_dossier(
        network, sender="IT-PS", to=["DE-BKA"], mutate=oversized_attachment(880_000)
    )
    await produce(network, network.layout.outbox("IT-PS"), hostile)
    async with network.node("ES-PN") as es:
        later = [await es.publish_dossier(example_dossier(s), to=["DE-BKA"]) for s in (31, 32)]
    assert (await network.router().run(until_idle=2.0)).routed == 3

    got, stats = await _consume(network, "DE-BKA", send_receipts=False)
    assert sorted(d.envelope_id for d in got) == sorted(r.envelope_id for r in later)
    assert stats.reasons == {"invalid-payload": 1}
    (raw,) = await read_all(network.conn, network.layout.rejected("DE-BKA"), expect=1)
    letter = DeadLetter.from_bytes(raw)
    assert letter.reason == "invalid-payload"
    assert len(raw) < 2 * MAX_ORIGINAL_BYTES
    assert (letter.original, letter.original_size) == (hostile[:MAX_ORIGINAL_BYTES], len(hostile))
    assert letter.envelope_sha256 == hashlib.sha256(hostile).digest()
    # The offset moved on: nothing is handled twice.
    assert (await _consume(network, "DE-BKA", send_receipts=False))[1].rejected == 0


async def test_dead_letter_refused_by_kafka_does_not_stall_the_inbox(network: Network) -> None:
    # DE-BKA's rejected topic refuses the dead letter (1 KiB records at most): the loss is
    # logged and audited, the offset committed, and the later dossier still arrives.
    await alter_topic(
        network.conn, network.layout.rejected("DE-BKA"), {"max.message.bytes": "1024"}
    )
    hostile = hostile_dossier(
        network, sender="IT-PS", to=["DE-BKA"], mutate=oversized_attachment(300_000)
    )
    await produce(network, network.layout.outbox("IT-PS"), hostile)
    async with network.node("ES-PN") as es:
        later = await es.publish_dossier(example_dossier(33), to=["DE-BKA"])
    assert (await network.router().run(until_idle=2.0)).routed == 2

    got, stats = await _consume(network, "DE-BKA", send_receipts=False)
    assert [d.envelope_id for d in got] == [later.envelope_id]
    assert stats.reasons == {"invalid-payload": 1}
    assert (await _consume(network, "DE-BKA", send_receipts=False))[1].rejected == 0


async def test_dossier_with_invalid_field_leaks_no_decrypted_value_in_dead_letter_or_receipt(
    network: Network,
) -> None:
    # ES-PN's dossier carries a value DE-BKA's model refuses; DE-BKA's dead letter (stored
    # in Kafka, read by operators and auditors) and REJECTED receipt must not quote it.
    def leaky_phone(record: dict[str, object]) -> None:
        groups = record["groups"]
        assert isinstance(groups, list)
        groups[0]["selectors"].append(
            {"type": "PHONE_E164", "value": "+99 0000 LEAKME", "platform": None}
        )

    hostile = hostile_dossier(network, sender="ES-PN", to=["DE-BKA"], mutate=leaky_phone)
    await produce(network, network.layout.outbox("ES-PN"), hostile)
    await network.router().run(until_idle=2.0)
    _, stats = await _consume(network, "DE-BKA", send_receipts=True)
    assert stats.reasons == {"invalid-payload": 1}

    (raw,) = await read_all(network.conn, network.layout.rejected("DE-BKA"), expect=1)
    letter = DeadLetter.from_bytes(raw)
    assert letter.reason == "invalid-payload" and letter.detail is not None
    assert "groups[0].selectors[" in letter.detail and "value_error" in letter.detail
    assert b"LEAKME" not in raw

    (sealed_receipt,) = await read_all(network.conn, network.layout.outbox("DE-BKA"), expect=1)
    trust = load_trust(network.settings)
    es = load_identity(network.settings, agency="ES-PN", trust=trust)
    opened = Verifier(trust=trust).open(sealed_receipt, identity=es)
    receipt = SchemaStore.default().decode("eu.fed.Receipt", opened.payload)
    assert (receipt["status"], receipt["reason"]) == ("REJECTED", "invalid-payload")
    assert b"LEAKME" not in opened.payload


async def test_co_recipient_reusing_an_envelope_id_cannot_suppress_the_genuine_dossier(
    network: Network,
) -> None:
    # ES-PN sends E to DE-BKA and IT-PS; IT-PS reads E's id from the cleartext header and
    # sends DE-BKA its own, honestly signed envelope under the same id.
    async with network.node("ES-PN") as es:
        genuine = await es.publish_dossier(example_dossier(41), to=["DE-BKA", "IT-PS"])
    copycat = hostile_dossier(
        network,
        sender="IT-PS",
        to=["DE-BKA"],
        mutate=lambda record: None,
        envelope_id=genuine.envelope_id,
    )
    await produce(network, network.layout.outbox("IT-PS"), copycat)
    assert (await network.router().run(until_idle=2.0)).routed == 3

    # Whichever DE-BKA reads first, each is handled on its own: both are delivered.
    got, stats = await _consume(network, "DE-BKA", send_receipts=True)
    assert sorted((d.opened.header.sender, d.envelope_id) for d in got) == [
        ("ES-PN", genuine.envelope_id),
        ("IT-PS", genuine.envelope_id),
    ]
    assert stats.rejected == 0
    async with network.node("DE-BKA") as de:
        stored = sorted((i.sender, i.envelope_id) for i in de.store.inbox())
    assert stored == [("ES-PN", genuine.envelope_id), ("IT-PS", genuine.envelope_id)]

    # ES-PN gets DE-BKA's DELIVERED receipt for its own E.
    await network.router().run(until_idle=2.0)
    async with network.node("ES-PN") as es:
        await es.consume(until_idle=2.0)
        status = {s.envelope_id: s.status for s in es.store.sent()}
    assert status[genuine.envelope_id]["DE-BKA"] == "DELIVERED"
