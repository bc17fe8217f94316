"""The inbox accepts a fetched batch in one transaction, then calls the handlers.

The crash window between the batch's commit and its handlers is closed by the
store: what is still pending at start-up is handed over again from the store,
once, and the records Kafka re-delivers are refused as replays. A handler that
refuses a delivery with one of our errors dead-letters it and keeps its seen-mark.
"""

from __future__ import annotations

from collections import Counter

import pytest

from broker import home
from broker.agency import Delivery
from broker.agency.store import AgencyStore
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.journal import AuditJournal
from broker.deadletter import DeadLetter
from broker.envelope.verify import claimed_envelope_id
from broker.errors import TransportError, ValidationError
from broker.synthetic import example_dossier
from tests.kafka_helpers import read_all
from tests.network.conftest import Network

# Generous: a consumer group joins slowly on a loaded machine, and an idle stop that comes
# too early would look like a lost record.
_IDLE = 10.0


class _Killed(BaseException):
    """Stands for the process dying inside the handler (nothing after it runs there)."""


async def _publish(network: Network, count: int) -> list[str]:
    dossier = example_dossier(21)
    async with network.node("ES-PN") as es:
        sent = await es.publish_many(
            [dossier.to_bytes()] * count,
            kind="DOSSIER",
            codes=dossier.codes.to_avro(),
            to=["DE-BKA"],
        )
    await network.router().run(until_idle=_IDLE)
    return [r.envelope_id for r in sent]


def _store(network: Network) -> AgencyStore:
    return AgencyStore.open(home.agency_db(network.settings, "DE-BKA"))


def _opened_ids(network: Network) -> Counter[str]:
    journal = AuditJournal.open(home.audit_journal(network.settings, "DE-BKA"), stream="DE-BKA")
    try:
        events = [AuditEvent.from_bytes(e) for e in journal.events()]
    finally:
        journal.close()
    return Counter(e.envelope_id or "" for e in events if e.kind is AuditKind.OPEN)


@pytest.mark.parametrize(
    "crash",
    [
        _Killed("the inbox process dies between accept_many and handled"),
        TransportError("Kafka away while the handler publishes"),  # retriable: no verdict
    ],
    ids=["killed", "retriable-error"],
)
async def test_process_killed_after_the_batch_commit_runs_each_handler_once_on_restart(
    network: Network, crash: BaseException
) -> None:
    ids = await _publish(network, 5)

    async def dies(delivery: Delivery) -> None:
        raise crash

    node = network.node("DE-BKA")
    with pytest.raises(type(crash)):
        async with node:
            await node.consume(handler=dies, until_idle=_IDLE)
    store = _store(network)
    try:  # the fetched batch (one partition's records) accepted and stored, handlers owed
        pending = {p.envelope_id for p in store.pending()}
        assert pending and pending <= set(ids)
        assert {i.envelope_id for i in store.inbox()} == pending
    finally:
        store.close()

    calls: Counter[str] = Counter()

    async def counts(delivery: Delivery) -> None:
        assert delivery.dossier is not None
        assert delivery.dossier.model_dump() == example_dossier(21).model_dump()
        calls[delivery.envelope_id] += 1

    async with network.node("DE-BKA") as again:
        stats = await again.consume(handler=counts, until_idle=_IDLE)
    assert calls == Counter(dict.fromkeys(ids, 1))  # the pending ones from the store, once
    assert stats.delivered == 5
    # Kafka re-delivers the uncommitted batch: refused as replays, not handed over again.
    assert stats.reasons == {"replayed": len(pending)}
    assert _opened_ids(network) == Counter(dict.fromkeys(ids, 1))
    store = _store(network)
    try:
        assert store.pending() == []
    finally:
        store.close()

    async with network.node("DE-BKA") as third:  # offsets committed: nothing more
        assert (await third.consume(handler=counts, until_idle=_IDLE)).delivered == 0
    assert sum(calls.values()) == 5

    # The receipts sent at start-up reach the sender: every dossier DELIVERED, once.
    await network.router().run(until_idle=_IDLE)
    async with network.node("ES-PN") as es:
        back = await es.consume(until_idle=_IDLE)
        status = {s.envelope_id: s.status for s in es.store.sent()}
    assert back.receipts == 5
    assert status == {i: {"DE-BKA": "DELIVERED"} for i in ids}


async def test_handler_refusing_a_delivery_dead_letters_it_and_a_resent_copy_is_a_replay(
    network: Network,
) -> None:
    ids = await _publish(network, 3)
    refused = ids[1]
    handled: list[str] = []

    async def picky(delivery: Delivery) -> None:
        if delivery.envelope_id == refused:
            raise ValidationError("the handler refuses this case", detail="test")
        handled.append(delivery.envelope_id)

    records = await read_all(network.conn, network.layout.inbox("DE-BKA"), expect=3)
    (second,) = [r for r in records if claimed_envelope_id(r) == refused]
    async with network.node("DE-BKA") as de:
        stats = await de.consume(handler=picky, until_idle=_IDLE)
    assert sorted(handled) == sorted([ids[0], ids[2]])
    assert (stats.delivered, stats.rejected) == (2, 1)
    assert stats.reasons == {ValidationError.reason: 1}
    (letter,) = [
        DeadLetter.from_bytes(v)
        for v in await read_all(network.conn, network.layout.rejected("DE-BKA"), expect=1)
    ]
    assert (letter.envelope_id, letter.reason) == (refused, ValidationError.reason)
    store = _store(network)
    try:
        assert sorted(i.envelope_id for i in store.inbox()) == sorted([ids[0], ids[2]])
        assert store.pending() == []
        assert store.seen_among([("ES-PN", refused)]) == {("ES-PN", refused)}
    finally:
        store.close()

    # The same record produced again is refused as a replay: the seen-mark was kept.
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(network.layout.inbox("DE-BKA"), second)
    finally:
        await producer.stop()
    async with network.node("DE-BKA") as de:
        stats = await de.consume(handler=picky, until_idle=_IDLE, send_receipts=False)
    assert stats.reasons == {"replayed": 1}
    assert len(handled) == 2

    await network.router().run(until_idle=_IDLE)
    async with network.node("ES-PN") as es:
        await es.consume(until_idle=_IDLE)
        status = {s.envelope_id: s.status["DE-BKA"] for s in es.store.sent()}
    assert status == {ids[0]: "DELIVERED", refused: "REJECTED", ids[2]: "DELIVERED"}
