"""Dossiers over the real broker: exactly once to each recipient, nowhere else; hostile records
dead-lettered with their reason while later valid ones still arrive; receipts come back."""

from __future__ import annotations

from collections import Counter
from typing import Any

from broker.agency import AgencyNode, Delivery
from broker.audit.events import AuditEvent, AuditKind
from broker.codec import SchemaStore
from broker.deadletter import DeadLetter
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA
from broker.errors import Error, MalformedEnvelopeError, SignatureError
from broker.synthetic import example_dossier
from tests.kafka_helpers import read_all
from tests.network.conftest import ROUNDS, Network


async def _collect(network: Network, agency: str, *, expect: int = 0, **kw: Any) -> list[Delivery]:
    """Consume ``agency``'s inbox until ``expect`` deliveries (one idle round when 0)."""
    got: list[Delivery] = []

    async def handler(delivery: Delivery) -> None:
        got.append(delivery)

    node = network.node(agency)
    async with node:
        for _ in range(ROUNDS):
            await node.consume(handler=handler, until_idle=2.0, **kw)
            if len(got) >= expect:
                break
    return got


async def test_dossier_reaches_each_named_recipient_exactly_once_and_nowhere_else(
    network: Network,
) -> None:
    dossier = example_dossier(11)
    async with network.node("ES-PN") as sender:
        first = await sender.publish_dossier(dossier, to=["DE-BKA", "PT-PJ"])
        second = await sender.publish_dossier(dossier, to=["PT-PJ"], suite="pq-hybrid")
    stats = await network.route(expect=2)
    assert (stats.routed, stats.rejected) == (3, 0)

    de = await _collect(network, "DE-BKA", expect=1)
    pt = await _collect(network, "PT-PJ", expect=2)
    it = await _collect(network, "IT-PS")
    assert [d.envelope_id for d in de] == [first.envelope_id]
    assert sorted(d.envelope_id for d in pt) == sorted([first.envelope_id, second.envelope_id])
    assert it == []
    assert de[0].dossier is not None and de[0].dossier.model_dump() == dossier.model_dump()
    assert de[0].opened.header.sender == "ES-PN"

    # Consuming again delivers nothing more: offsets were committed after the handler.
    assert await _collect(network, "DE-BKA") == []

    # Receipts travel back through the router to the sender.
    await network.route(expect=3)
    receipts = 0
    async with network.node("ES-PN") as sender:
        for _ in range(ROUNDS):
            receipts += (await sender.consume(until_idle=2.0)).receipts
            if receipts >= 3:
                break
        status = {s.envelope_id: s.status for s in sender.store.sent()}
    assert receipts == 3
    assert status[first.envelope_id] == {"DE-BKA": "DELIVERED", "PT-PJ": "DELIVERED"}
    assert status[second.envelope_id] == {"PT-PJ": "DELIVERED"}


async def test_hostile_records_are_dead_lettered_with_reason_and_valid_ones_still_arrive(
    network: Network,
) -> None:
    store = SchemaStore.default()
    async with network.node("DE-BKA") as de:
        # DE-BKA's validly signed envelope, which we will copy into ES-PN's outbox.
        await de.publish_dossier(example_dossier(1), to=["PT-PJ"])
    misowned = (await read_all(network.conn, network.layout.outbox("DE-BKA"), expect=1))[0]
    async with network.node("ES-PN") as es:
        await es.publish_dossier(example_dossier(2), to=["DE-BKA"])
    valid = (await read_all(network.conn, network.layout.outbox("ES-PN"), expect=1))[0]
    tampered = bytearray(valid)
    tampered[len(tampered) // 2] ^= 0x10
    unsigned = store.decode(ENVELOPE_SCHEMA, valid)
    unsigned["signature"] = {"ed25519": b"", "ml_dsa_65": None}
    hostile = [
        b"\x00random garbage",
        bytes(tampered),
        misowned,
        store.encode(ENVELOPE_SCHEMA, unsigned),
    ]

    producer = network.conn.producer()
    await producer.start()
    try:
        for value in hostile:
            await producer.send_and_wait(network.layout.outbox("ES-PN"), value)
        async with network.node("ES-PN") as es:
            later = await es.publish_dossier(example_dossier(3), to=["DE-BKA"])
    finally:
        await producer.stop()

    stats = await network.route(expect=len(hostile) + 1)
    assert stats.rejected == len(hostile)
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(network.conn, network.layout.rejected("ES-PN"), expect=4)
    ]
    assert sorted(letter.original for letter in letters) == sorted(hostile)
    assert {letter.reason for letter in letters} == {"malformed", "bad-signature"}
    # The sender may be the attacker: the router's dead letters carry no precise detail.
    assert all(letter.detail is None and letter.stage == "ROUTER" for letter in letters)

    got = await _collect(network, "DE-BKA", expect=2, send_receipts=False)
    assert later.envelope_id in {d.envelope_id for d in got}
    assert len(got) == 2  # the two valid dossiers, nothing hostile


async def test_replayed_and_misaddressed_records_are_refused_by_the_consumer(
    network: Network,
) -> None:
    async with network.node("ES-PN") as es:
        await es.publish_dossier(example_dossier(4), to=["DE-BKA"])
        await es.publish_dossier(example_dossier(5), to=["PT-PJ"])
    await network.route(expect=2)
    (for_de,) = await read_all(network.conn, network.layout.inbox("DE-BKA"), expect=1)
    (for_pt,) = await read_all(network.conn, network.layout.inbox("PT-PJ"), expect=1)
    assert len(await _collect(network, "DE-BKA", expect=1, send_receipts=False)) == 1

    # A malicious operator replays DE-BKA's envelope and slips PT-PJ's into DE-BKA's inbox.
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(network.layout.inbox("DE-BKA"), for_de)
        await producer.send_and_wait(network.layout.inbox("DE-BKA"), for_pt)
    finally:
        await producer.stop()
    delivered, reasons = 0, Counter[str]()
    async with network.node("DE-BKA") as de:
        for _ in range(ROUNDS):
            stats = await de.consume(until_idle=2.0, send_receipts=False)
            delivered, reasons = delivered + stats.delivered, reasons + Counter(stats.reasons)
            if reasons.total() >= 2:
                break
    assert delivered == 0
    assert reasons == {"replayed": 1, "not-a-recipient": 1}
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(network.conn, network.layout.rejected("DE-BKA"), expect=2)
    ]
    assert {letter.reason for letter in letters} == {"replayed", "not-a-recipient"}
    assert all(letter.detail for letter in letters)  # our own topic: precise cause kept


async def test_batch_signed_publish_reaches_each_recipient_once_with_its_own_sequence(
    network: Network,
) -> None:
    dossiers = [example_dossier(20 + i) for i in range(5)]
    async with network.node("ES-PN") as sender:
        results = await sender.publish_many(
            [d.to_bytes() for d in dossiers],
            kind="DOSSIER",
            codes=dossiers[0].codes.to_avro(),
            to=["DE-BKA", "PT-PJ"],
            suite="pq-hybrid",
        )
        sent = {s.envelope_id: s.status for s in sender.store.sent()}
        assert sender.audit_log is not None
        journaled = [AuditEvent.from_bytes(v) for v in sender.audit_log.journal.events()]
    # Every batch-signed envelope leaves its own PUBLISH event, as publish() does.
    published = [e for e in journaled if e.kind == AuditKind.PUBLISH]
    assert sorted(e.envelope_id or "" for e in published) == sorted(r.envelope_id for r in results)
    assert [r.sequence for r in results] == [1, 2, 3, 4, 5]
    assert len({r.envelope_id for r in results}) == 5
    assert set(sent) == {r.envelope_id for r in results}
    stats = await network.route(expect=5)
    assert (stats.routed, stats.rejected) == (10, 0)

    # A hostile record slipped into DE-BKA's inbox among them is dead-lettered from the
    # worker processes' verdict, exactly as without workers.
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(network.layout.inbox("DE-BKA"), b"\x00 not an envelope")
    finally:
        await producer.stop()
    for agency, workers in (("DE-BKA", 2), ("PT-PJ", 0)):
        got: list[Delivery] = []

        async def handler(delivery: Delivery, got: list[Delivery] = got) -> None:
            got.append(delivery)

        node = AgencyNode.load(
            network.settings, agency=agency, conn=network.conn, crypto_workers=workers
        )
        async with node:
            consumed = await node.consume(handler=handler, until_idle=2.0, send_receipts=False)
        assert consumed.reasons == ({"malformed": 1} if agency == "DE-BKA" else {})
        assert sorted(d.envelope_id for d in got) == sorted(r.envelope_id for r in results)
        assert sorted(d.opened.header.sequence for d in got) == [1, 2, 3, 4, 5]
        by_id = {d.envelope_id: d for d in got}
        for result, dossier in zip(results, dossiers, strict=True):
            delivered = by_id[result.envelope_id].dossier
            assert delivered is not None and delivered.model_dump() == dossier.model_dump()


async def test_router_dead_letters_of_a_forged_envelope_name_the_envelope_id_its_header_claims(
    network: Network,
) -> None:
    # DE-BKA's validly signed envelope copied into ES-PN's outbox, and one whose signature
    # was stripped: both headers decode, so their dead letters and REJECT events must name
    # the envelope id (an operator traces every copy of one envelope by id); garbage names none.
    store = SchemaStore.default()
    async with network.node("DE-BKA") as de:
        await de.publish_dossier(example_dossier(6), to=["PT-PJ"])
    misowned = (await read_all(network.conn, network.layout.outbox("DE-BKA"), expect=1))[0]
    unsigned = store.decode(ENVELOPE_SCHEMA, misowned)
    unsigned["signature"] = {"ed25519": b"", "ml_dsa_65": None}
    claimed = store.decode(HEADER_SCHEMA, unsigned["header"])["envelope_id"]
    hostile = {misowned: claimed, store.encode(ENVELOPE_SCHEMA, unsigned): claimed, b"junk": None}
    producer = network.conn.producer()
    await producer.start()
    try:
        for value in hostile:
            await producer.send_and_wait(network.layout.outbox("ES-PN"), value)
    finally:
        await producer.stop()
    rejected: list[tuple[DeadLetter, Error]] = []
    router = network.router()
    router._on_reject = lambda letter, exc: rejected.append((letter, exc))
    stats = await router.run(until_idle=2.0)
    assert stats.rejected == len(hostile)
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(network.conn, network.layout.rejected("ES-PN"), expect=3)
    ]
    assert {letter.original: letter.envelope_id for letter in letters} == hostile
    assert {letter.original: letter.envelope_id for letter, _ in rejected} == hostile
    assert {type(exc) for _, exc in rejected} == {SignatureError, MalformedEnvelopeError}
