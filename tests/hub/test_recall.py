"""Recall and restriction on the real broker: every holder (two recipients and the hub)
erases and answers DESTROYED; a holder offline at recall time applies it on return; a
replayed Kafka copy of a recalled dossier is refused; a restriction turns a releasable hit
into "permission required". The owner's compliance table and the audit replay agree."""

from __future__ import annotations

import datetime as dt
import time

from broker.agency import AgencyNode
from broker.agency.control import compliance_table, recall, restrict
from broker.audit.auditor import replay_and_verify
from broker.audit.events import AuditKind
from broker.deadletter import DeadLetter
from broker.topics import HUB
from tests.hub.live import PHONE, Fed, consume_until, dossier
from tests.kafka_helpers import read_all

REASON = "Regulation (EU) 2016/794 Art. 19(2): withdrawn by the source"


async def _answer(fed: Fed, agency: str, order_id: str) -> str:
    """Consume ``agency``'s inbox until it has answered ``order_id``; return its answer."""
    async with fed.node(agency) as node:
        await consume_until(node, lambda: node.control.ledger.answered(order_id) is not None)
        answered = node.control.ledger.answered(order_id)
        assert answered is not None
        return answered[0]


async def _collect_answers(fed: Fed, owner: str, expect: int) -> dict[str, str]:
    """Consume the owner's inbox until ``expect`` answers are recorded; holder -> status."""
    async with fed.node(owner) as node:

        def answered() -> dict[str, str]:
            lines = compliance_table(node.control.ledger)
            return {ln.holder: ln.status for ln in lines if ln.status != "PENDING"}

        await consume_until(node, lambda: len(answered()) >= expect)
        return answered()


def _held(node: AgencyNode, envelope_id: str) -> bool:
    return any(item.envelope_id == envelope_id for item in node.store.inbox())


async def test_recall_reaches_two_recipients_and_the_hub_each_destroyed(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(1, restricted=True), to=["DE-BKA", "PT-PJ", HUB])
    async with fed.node("IT-PS") as it:
        await it.publish_dossier(dossier(2, restricted=False), to=[HUB])
    await fed.route(expect=2)
    await fed.received("DE-BKA", expect=1)
    await fed.received("PT-PJ", expect=1)
    hub = await fed.hub(expect=2)
    # Derived at the hub: index entries and a pending release request to ES-PN (restricted).
    assert any(h.agency == "ES-PN" for h in fed.index.holdings(f"phone:{PHONE}"))
    assert [r["owner"] for r in fed.index.release_requests()] == ["ES-PN"]

    async with fed.node("ES-PN") as es:
        order = await recall(es, sent.envelope_id, reason=REASON)
    assert order.holders == sorted(["DE-BKA", "PT-PJ", HUB])
    await fed.route(expect=1 + hub.notifications + hub.release_requests)
    assert await _answer(fed, "DE-BKA", order.order_id) == "DESTROYED"
    assert await _answer(fed, "PT-PJ", order.order_id) == "DESTROYED"
    await fed.hub(expect=1)
    await fed.route(expect=3)
    answers = await _collect_answers(fed, "ES-PN", expect=3)
    assert answers == {"DE-BKA": "DESTROYED", "PT-PJ": "DESTROYED", HUB: "DESTROYED"}

    # Erased everywhere: the stored rows, the hub's index entries and release request.
    for agency in ("DE-BKA", "PT-PJ", HUB):
        async with fed.node(agency) as node:
            assert not _held(node, sent.envelope_id)
            assert node.control.ledger.is_recalled("ES-PN", sent.envelope_id)
    assert all(h.agency != "ES-PN" for h in fed.index.holdings(f"phone:{PHONE}"))
    assert fed.index.release_requests() == []

    # The auditor agrees with the owner's table: each holder's signed, logged act is there.
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
    destroyed = {
        ev.stream
        for ev, _ in audit.events
        if ev.kind == AuditKind.COMPLIANCE and ev.ref == order.order_id and ev.stream != "ES-PN"
    }
    assert destroyed == {"DE-BKA", "PT-PJ", HUB}


async def test_offline_holder_destroys_on_return_and_a_replayed_copy_is_refused(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(3, restricted=False), to=["DE-BKA"])
        order = await recall(es, sent.envelope_id, reason=REASON)
    await fed.route(expect=2)  # DE-BKA was offline all along: dossier and recall both wait

    assert await _answer(fed, "DE-BKA", order.order_id) == "DESTROYED"
    async with fed.node("DE-BKA") as de:
        assert not _held(de, sent.envelope_id)
        # Even once the replay seen-set has forgotten it, the recall tombstone stays.
        assert de.store.forget_expired(now=time.time() + 3650 * 86400) >= 1
    await fed.route(expect=1)
    assert (await _collect_answers(fed, "ES-PN", expect=1)) == {"DE-BKA": "DESTROYED"}

    # Replay: the original record, copied back into DE-BKA's inbox (an offset reset reads
    # the same bytes again). It is refused as recalled, dead-lettered, never stored.
    (original,) = [
        v
        for v in await read_all(fed.conn, fed.layout.inbox("DE-BKA"), expect=2)
        if sent.envelope_id.encode() in v
    ]
    producer = fed.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(fed.layout.inbox("DE-BKA"), value=original)
    finally:
        await producer.stop()
    async with fed.node("DE-BKA") as de:
        stats = await de.consume(until_idle=2.0)
        assert stats.reasons.get("recalled") == 1
        assert not _held(de, sent.envelope_id)
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(fed.conn, fed.layout.rejected("DE-BKA"), expect=1)
    ]
    assert [(x.reason, x.envelope_id) for x in letters] == [("recalled", sent.envelope_id)]


async def test_restriction_turns_a_releasable_hit_into_permission_required(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(4, restricted=False), to=[HUB])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(dossier(5, restricted=False), to=[HUB])
    await fed.route(expect=2)
    hub = await fed.hub(expect=2)
    await fed.route(expect=hub.notifications)
    (de_hit,) = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=1)
    assert de_hit["other_agencies"] == ["ES-PN"]  # releasable: named

    async with fed.node("ES-PN") as es:
        order = await restrict(es, sent.envelope_id, reason=REASON, handling=["H2"], tlp="RED")
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=2)  # the hub's answer, and the order relayed to DE-BKA (told of ES-PN)
    assert (await _collect_answers(fed, "ES-PN", expect=1))[HUB] == "APPLIED"
    assert order.action == "RESTRICT"

    # A new holder of the same phone: ES-PN is now withheld, "hit, permission required".
    async with fed.node("IT-PS") as it:
        await it.publish_dossier(dossier(6, restricted=False), to=[HUB])
    await fed.route(expect=1)
    hub = await fed.hub(expect=1)
    assert hub.release_requests == 1  # ES-PN is now asked before anyone learns of it
    await fed.route(expect=hub.notifications + hub.release_requests)
    (it_hit,) = await fed.inbox("IT-PS", "HIT_NOTIFICATION", expect=1)
    assert it_hit["permission_required"] is True
    assert "ES-PN" not in it_hit["other_agencies"]


async def test_dossier_past_its_retention_review_is_erased_and_audited(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(7, restricted=False), to=["DE-BKA"])
    await fed.route(expect=1)
    erased = False
    async with fed.node("DE-BKA") as de:
        de.control.review_period = dt.timedelta(seconds=1)  # the federation default, shortened
        de.control.review_every = 0.0
        # until received, then swept by an idle inbox
        await consume_until(de, lambda: de.control.ledger.is_recalled("ES-PN", sent.envelope_id))
        erased = not _held(de, sent.envelope_id)
    assert erased
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
    assert [
        (ev.stream, ev.outcome)
        for ev, _ in audit.events
        if ev.kind == AuditKind.RETENTION and ev.envelope_id == sent.envelope_id
    ] == [("DE-BKA", "expired")]


async def test_holder_silent_past_the_deadline_is_overdue_for_the_owner_and_the_auditor(
    fed: Fed,
) -> None:
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(8, restricted=False), to=["DE-BKA", "PT-PJ"])
        # Deadline zero: due at once, so the answer PT-PJ never gives is overdue at once.
        order = await recall(es, sent.envelope_id, reason=REASON, deadline=dt.timedelta(0))
    await fed.route(expect=2)
    assert await _answer(fed, "DE-BKA", order.order_id) == "DESTROYED"  # PT-PJ stays offline
    await fed.route(expect=1)
    answers = await _collect_answers(fed, "ES-PN", expect=2)
    assert answers == {"DE-BKA": "DESTROYED", "PT-PJ": "OVERDUE"}

    audit = await replay_and_verify(fed.settings, conn=fed.conn)
    assert [f.detail for f in audit.report.findings] == [
        f"recall {order.order_id} of {sent.envelope_id} by ES-PN: no DESTROYED from PT-PJ by "
        f"its deadline {dt.datetime.fromtimestamp(order.deadline, dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
    ]
