"""Requests, replies, refusals and deadlines end to end on the real broker.

Every agency runs as ``broker inbox`` does (:func:`broker.requests.serve`): nothing
here calls a deadline check; the clock is compressed (urgent-direct = 4 s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from broker.agency.store import AgencyStore
from broker.audit.auditor import replay_and_verify
from broker.audit.deadlines import deadline_statistics
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.journal import AuditJournal
from broker.cli import app
from broker.codec import SchemaStore
from broker.config import Settings
from broker.errors import ConsentRequiredError
from broker.home import agency_db, audit_journal
from broker.hub.grant import grant_release, release_requests
from broker.models import MessageLink
from broker.requests import (
    Case,
    RefusalGround,
    RequestDesk,
    RequestRow,
    RequestStore,
    Urgency,
    case_list,
    find_case,
    requests_db,
)
from broker.requests.examples import example_reply, example_request
from broker.requests.model import RequestReply
from broker.requests.store import ThreadEntry
from broker.topics import ROUTER
from broker.transport import KafkaConnection
from tests.hub.live import dossier as holding
from tests.requests.conftest import SCALE
from tests.requests.live import running, until

pytestmark = pytest.mark.kafka

PHONE = "+447700900555"
STORE = SchemaStore.default()


def _journal(settings: Settings, stream: str) -> list[AuditEvent]:
    journal = AuditJournal.open(audit_journal(settings, stream), stream=stream)
    try:
        return [AuditEvent.from_bytes(raw) for raw in journal.events()]
    finally:
        journal.close()


async def test_request_answered_in_time_and_its_case_shows_the_whole_thread(
    fed: Settings, kafka: KafkaConnection
) -> None:
    async with running(fed, kafka, ["ES-PN", "DE-BKA"]) as run:
        de, es = run["DE-BKA"], run["ES-PN"]
        request = example_request(seed=1, case_ref="CASE-SYNTH-R1", urgency=Urgency.URGENT_INDIRECT)
        rid = (await de.send(request, to="ES-PN")).envelope_id
        row = await until("the request at ES-PN", lambda: _row(es, rid))
        assert row.requester == "DE-BKA" and row.urgency == "URGENT_INDIRECT"
        # The clock runs from the router's stamp of the inbox record, not DE-BKA's clock.
        assert row.received_at is not None and row.deadline is not None
        assert row.deadline - row.received_at == pytest.approx(3 * 86400 * SCALE)
        partial = await es.reply(rid, example_reply(seed=2, case_ref="x"), final=False)
        await until("the partial reply", lambda: de.store.get(rid).status == "partial")
        final = await es.reply(rid, example_reply(seed=3, case_ref="x"), final=True)
        await until("the final reply", lambda: de.store.get(rid).status == "answered")
        await until(
            "ES-PN's receipts for both replies",
            lambda: len([r for r in es.node.store.receipt_log() if r[2] == "DELIVERED"]) >= 2,
        )
        await until("DE-BKA's receipt", lambda: de.node.store.receipt_log())
        assert es.store.get(rid).status == "answered"

    (case,) = _cases(fed, "DE-BKA")
    assert case.case_ref == "CASE-SYNTH-R1" and case.status() == "closed"
    kinds = [line.kind for line in case.lines]
    assert kinds[0] == "REQUEST" and "RECEIPT" in kinds
    assert kinds.index("PARTIAL_REPLY") < kinds.index("REPLY")
    ids = {line.envelope_id for line in case.lines}
    assert {rid, partial.envelope_id, final.envelope_id} <= ids
    assert [line.at for line in case.lines] == sorted(line.at for line in case.lines)
    # ES-PN's own view of the case: the request, both replies and their receipts.
    es_case = find_case(_cases(fed, "ES-PN"), "CASE-SYNTH-R1")
    assert [ln.kind for ln in es_case.lines].count("RECEIPT") == 2
    # The commands print the same, from the stores, without Kafka.
    cli = CliRunner()
    shown = cli.invoke(
        app, ["case", "show", "CASE-SYNTH-R1", "--as", "DE-BKA", "--home", str(fed.home)]
    )
    assert shown.exit_code == 0, shown.output
    assert "PARTIAL_REPLY" in shown.output and final.envelope_id in shown.output
    listed = cli.invoke(app, ["cases", "--as", "ES-PN", "--home", str(fed.home)])
    assert "CASE-SYNTH-R1" in listed.output and "closed" in listed.output
    left = cli.invoke(app, ["deadlines", "--as", "DE-BKA", "--home", str(fed.home)])
    assert "0 open request(s)" in left.output


async def test_request_refused_with_each_ground_reaches_the_requester(
    fed: Settings, kafka: KafkaConnection
) -> None:
    grounds = list(RefusalGround)
    async with running(fed, kafka, ["ES-PN", "DE-BKA"]) as run:
        de, es = run["DE-BKA"], run["ES-PN"]
        sent = {}
        for n, ground in enumerate(grounds):
            req = example_request(seed=10 + n, case_ref=f"CASE-SYNTH-G{n}")
            sent[(await de.send(req, to="ES-PN")).envelope_id] = ground
        await until("every request at ES-PN", lambda: len(es.store.requests()) == len(grounds))
        for rid, ground in sent.items():
            await es.refuse(rid, ground=ground, note=f"synthetic note {ground.cli}")
        await until(
            "every refusal at DE-BKA",
            lambda: all(r.status == "refused" for r in de.store.requests()),
        )
    refusals = {e.request_id: e.detail for e in _thread(fed, "DE-BKA") if e.kind == "REFUSAL"}
    assert refusals == {rid: f"{g.cli}: synthetic note {g.cli}" for rid, g in sent.items()}
    audited = [e for e in _journal(fed, "ES-PN") if e.kind == AuditKind.REQUEST]
    assert {e.ref: e.reason for e in audited if e.outcome == "refused"} == {
        rid: g.value for rid, g in sent.items()
    }


async def test_overdue_request_reminds_and_notifies_both_sides_without_polling(
    fed: Settings, kafka: KafkaConnection
) -> None:
    async with running(fed, kafka, ["ES-PN", "DE-BKA", "IT-PS"]) as run:
        de, es, it = run["DE-BKA"], run["ES-PN"], run["IT-PS"]
        late = await de.send(
            example_request(seed=20, case_ref="CASE-SYNTH-LATE", urgency=Urgency.URGENT_DIRECT),
            to="IT-PS",
        )
        quick = await de.send(example_request(seed=21, case_ref="CASE-SYNTH-QUICK"), to="ES-PN")
        await until("the quick request at ES-PN", lambda: _row(es, quick.envelope_id))
        answer = await es.reply(quick.envelope_id, example_reply(seed=22, case_ref="x"), final=True)
        # Nobody answers IT-PS's request and nobody polls: its running inbox reminds it at
        # 75 % and, at the limit, tells DE-BKA (a signed DEADLINE_NOTICE through the router).
        row = await until("the overdue notice at DE-BKA", lambda: _overdue(de, late.envelope_id))
        assert row.deadline is not None and row.received_at is not None
        it_row = it.store.get(late.envelope_id)
        assert it_row.reminded and it_row.overdue and it_row.is_open
        assert row.deadline == pytest.approx(it_row.deadline)  # the responder's clock, told
        # IT-PS answers late, after the limit.
        late_answer = await it.reply(
            late.envelope_id, example_reply(seed=23, case_ref="x"), final=True
        )
        await until("the late reply", lambda: de.store.get(late.envelope_id).status == "answered")

    it_events = [e for e in _journal(fed, "IT-PS") if e.kind == AuditKind.DEADLINE]
    assert [(e.outcome, e.ref, e.parties) for e in it_events] == [
        ("reminder", late.envelope_id, ["DE-BKA", "IT-PS"]),
        ("overdue", late.envelope_id, ["DE-BKA", "IT-PS"]),
    ]
    de_events = [e for e in _journal(fed, "DE-BKA") if e.kind == AuditKind.DEADLINE]
    assert [(e.outcome, e.ref) for e in de_events] == [("overdue", late.envelope_id)]
    kinds = [line.kind for line in find_case(_cases(fed, "DE-BKA"), "CASE-SYNTH-LATE").lines]
    assert kinds[0] == "REQUEST" and kinds.index("OVERDUE") < kinds.index("REPLY")

    # The auditor's figures, from the audit log replayed from Kafka, match the router's
    # own events: receive = DELIVER of the request, answer = ROUTE of the reply.
    verifier = await replay_and_verify(fed, conn=kafka, keep_events=True)
    events = [ev for ev, _ in verifier.events]
    stats = deadline_statistics(events, scale=SCALE)
    deliver = {
        (e.envelope_id, e.parties[1]): e.at
        for e in events
        if e.actor == ROUTER and e.kind == AuditKind.DELIVER
    }
    route = {e.envelope_id: e.at for e in events if e.actor == ROUTER and e.kind == AuditKind.ROUTE}
    took_es = (route[answer.envelope_id] - deliver[(quick.envelope_id, "ES-PN")]).total_seconds()
    took_it = (
        route[late_answer.envelope_id] - deliver[(late.envelope_id, "IT-PS")]
    ).total_seconds()
    assert took_it > 4.0 >= 0  # late: past the 4 s limit
    assert stats["ES-PN"]["standard"] == {
        "requests": 1,
        "answered": 1,
        "in_time": 1,
        "late": 0,
        "pending": 0,
        "share_in_time": 1.0,
        "median_answer_s": round(statistics.median([took_es]), 3),
    }
    assert stats["IT-PS"]["all"]["share_in_time"] == 0.0
    assert stats["IT-PS"]["urgent-direct"]["median_answer_s"] == round(took_it, 3)
    assert stats["IT-PS"]["urgent-direct"]["late"] == 1
    printed = subprocess.run(
        [sys.executable, "-m", "broker", "audit", "deadlines", "--json"],
        capture_output=True,
        text=True,
        env=_env(fed, kafka),
        timeout=300,
        check=True,
    )
    assert json.loads(printed.stdout)["agencies"] == json.loads(json.dumps(stats))


async def test_reply_disclosing_a_third_agencys_restricted_holding_is_blocked_until_its_grant(
    fed: Settings, kafka: KafkaConnection
) -> None:
    """Neither a grant forged by the requester nor a reply spoofed by another agency passes."""
    async with running(fed, kafka, ["ES-PN", "DE-BKA", "PT-PJ"]) as run:
        de, es, pt = run["DE-BKA"], run["ES-PN"], run["PT-PJ"]
        # PT-PJ told ES-PN about PHONE under H2 / TLP:RED: not to be passed on without consent.
        held = await pt.node.publish_dossier(holding(5, restricted=True, phone=PHONE), to=["ES-PN"])
        await until("PT-PJ's holding at ES-PN", lambda: es.node.store.inbox(kind="DOSSIER"))
        rid = (
            await de.send(
                example_request(seed=30, case_ref="CASE-SYNTH-OC", phone=PHONE), to="ES-PN"
            )
        ).envelope_id
        await until("the request at ES-PN", lambda: _row(es, rid))
        reply = example_reply(seed=31, case_ref="x", phone=PHONE)
        with pytest.raises(ConsentRequiredError) as refused:
            await es.reply(rid, reply, final=True)
        assert refused.value.reason == "consent-required" and "PT-PJ" in (
            refused.value.detail or ""
        )
        assert es.store.get(rid).is_open  # nothing was sent
        # Asking again does not ask PT-PJ twice; still withheld.
        with pytest.raises(ConsentRequiredError):
            await es.reply(rid, reply, final=True)
        (asked,) = await until(
            "the release request at PT-PJ", lambda: release_requests(pt.node.store)
        )
        assert asked.sender == "ES-PN" and asked.requested_for == ["DE-BKA"]
        assert asked.owner_envelope_id == held.envelope_id
        # Attack: the requester forges the owner's grant (say it learnt the release id).
        forged = STORE.encode(
            "eu.fed.ReleaseGrant",
            {
                "request_id": asked.request_id,
                "hit_key": asked.hit_key,
                "release_to": ["DE-BKA"],
                "at": dt.datetime.now(dt.UTC),
            },
        )
        bad = await de.node.publish(forged, kind="RELEASE_GRANT", codes=asked.codes, to=["ES-PN"])
        await until(
            "the forged grant dead-lettered", lambda: _rejected(fed, "ES-PN", bad.envelope_id)
        )
        with pytest.raises(ConsentRequiredError):
            await es.reply(rid, reply, final=True)
        # Attack: an agency that was not asked answers in ES-PN's place.
        linked = reply.model_copy(
            update={"links": [MessageLink(link_type="REPLY", message_id=rid)], "case_ref": "x"}
        )
        fake = RequestReply(
            request_id=rid,
            case_ref="CASE-SYNTH-OC",
            final=True,
            dossier=linked.to_bytes(),
            at=dt.datetime.now(dt.UTC),
        )
        spoof = await pt.node.publish(
            fake.to_bytes(), kind="REPLY", codes=linked.codes.to_avro(), to=["DE-BKA"]
        )
        await until(
            "the spoofed reply dead-lettered", lambda: _rejected(fed, "DE-BKA", spoof.envelope_id)
        )
        assert de.store.get(rid).is_open
        # The owner's genuine grant releases it.
        await grant_release(pt.node, request_id=asked.request_id, release_to=["DE-BKA"])
        await until(
            "PT-PJ's grant at ES-PN", lambda: all(c.granted_to for c in es.store.consents())
        )
        sent = await es.reply(rid, reply, final=True)
        await until("the reply at DE-BKA", lambda: de.store.get(rid).status == "answered")
        assert len(es.store.consents()) == 1  # asked once
    kinds = [ln.kind for ln in find_case(_cases(fed, "ES-PN"), "CASE-SYNTH-OC").lines]
    assert kinds.index("CONSENT_ASKED") < kinds.index("CONSENT") < kinds.index("REPLY")
    assert sent.envelope_id in {
        ln.envelope_id for ln in find_case(_cases(fed, "DE-BKA"), "CASE-SYNTH-OC").lines
    }


# -- helpers ------------------------------------------------------------------------------


def _row(desk: RequestDesk, request_id: str) -> RequestRow | None:
    rows = [r for r in desk.store.requests(role="received") if r.request_id == request_id]
    return rows[0] if rows else None


def _overdue(desk: RequestDesk, request_id: str) -> RequestRow | None:
    row = desk.store.get(request_id)
    return row if row.overdue else None


def _cases(settings: Settings, agency: str) -> list[Case]:
    req = RequestStore.open(requests_db(settings, agency))
    store = AgencyStore.open(agency_db(settings, agency))
    try:
        return case_list(requests=req, agency_store=store, agency=agency)
    finally:
        req.close()
        store.close()


def _thread(settings: Settings, agency: str) -> list[ThreadEntry]:
    req = RequestStore.open(requests_db(settings, agency))
    try:
        return req.thread()
    finally:
        req.close()


def _rejected(settings: Settings, agency: str, envelope_id: str) -> bool:
    """Whether ``agency`` dead-lettered ``envelope_id`` as an invalid payload (its audit)."""
    return any(
        e.kind == AuditKind.REJECT
        and e.envelope_id == envelope_id
        and e.reason == "invalid-payload"
        for e in _journal(settings, agency)
    )


def _env(settings: Settings, kafka: KafkaConnection) -> dict[str, str]:
    return dict(
        os.environ,
        KAFKA_BOOTSTRAP=kafka.bootstrap,
        BROKER_TOPIC_PREFIX=settings.topic_prefix,
        BROKER_HOME=str(settings.home),
        BROKER_REQUEST_TIME_SCALE=str(settings.request_time_scale),
    )
