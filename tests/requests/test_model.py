"""Request payloads, the time-limit table and the auditor's statistics, without Kafka."""

from __future__ import annotations

import datetime as dt

import pytest

from broker.audit.deadlines import deadline_statistics
from broker.audit.events import AuditEvent
from broker.audit.request_events import request_event
from broker.errors import ConfigError, ValidationError
from broker.requests import InformationRequest, RefusalGround, RequestReply, Urgency
from broker.requests.examples import example_reply, example_request
from broker.topics import ROUTER

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_directive_time_limits_and_cli_spellings() -> None:
    assert Urgency.URGENT_DIRECT.limit(scale=1.0) == dt.timedelta(hours=8)
    assert Urgency.URGENT_INDIRECT.limit(scale=1.0) == dt.timedelta(days=3)
    assert Urgency.STANDARD.limit(scale=1.0) == dt.timedelta(days=7)
    assert RefusalGround.from_cli("no-originator-consent") is RefusalGround.NO_ORIGINATOR_CONSENT
    with pytest.raises(ConfigError):
        Urgency.from_cli("whenever")
    with pytest.raises(ConfigError):
        RefusalGround.from_cli("because")


def test_request_round_trips_and_an_empty_or_unjustified_one_is_refused() -> None:
    req = example_request(seed=1, case_ref="CASE-SYNTH-1", urgency=Urgency.URGENT_DIRECT)
    assert InformationRequest.from_bytes(req.to_bytes()) == req
    data = req.model_dump()
    with pytest.raises(ValidationError) as empty:
        InformationRequest.from_json({**data, "selectors": [], "question": None})
    assert "asks a question" in str(empty.value.problems)
    with pytest.raises(ValidationError) as unjustified:
        InformationRequest.from_json({**data, "urgency_reason": None})
    assert "urgency_reason" in str(unjustified.value.problems)


def test_reply_whose_dossier_does_not_link_to_the_request_is_rejected() -> None:
    dossier = example_reply(seed=2, case_ref="CASE-SYNTH-1")  # no REPLY link at all
    reply = RequestReply(
        request_id="ab" * 16, case_ref="CASE-SYNTH-1", final=True, dossier=dossier.to_bytes(), at=T0
    )
    with pytest.raises(ValidationError) as refused:
        RequestReply.from_bytes(reply.to_bytes())
    assert refused.value.reason == "invalid-payload"


def _router(kind: str, envelope_id: str, agency: str, at: dt.datetime) -> AuditEvent:
    """The router's DELIVER of a request to ``agency``, or ROUTE of ``agency``'s answer."""
    if kind == "DELIVER":
        ev = AuditEvent.deliver(
            actor=ROUTER,
            envelope_id=envelope_id,
            envelope_sha256=bytes(32),
            sender="DE-BKA",
            recipient=agency,
            message_kind="REQUEST",
        )
    else:
        ev = AuditEvent.route(
            actor=ROUTER,
            envelope_id=envelope_id,
            envelope_sha256=bytes(32),
            sender=agency,
            recipients=["DE-BKA"],
            message_kind="REPLY",
        )
    return _at(ev, at)


def _at(ev: AuditEvent, at: dt.datetime) -> AuditEvent:
    return AuditEvent(**{**ev.__dict__, "at": at})


def test_deadline_statistics_use_the_routers_times() -> None:
    def received(rid: str, urgency: str, at: dt.datetime) -> AuditEvent:
        ev = request_event(
            actor="ES-PN",
            envelope_id=rid,
            request_id=rid,
            requester="DE-BKA",
            responder="ES-PN",
            outcome="received",
            message_kind="REQUEST",
            reason=urgency,
        )
        return _at(ev, at)

    def answered(rid: str, reply: str, at: dt.datetime) -> AuditEvent:
        ev = request_event(
            actor="ES-PN",
            envelope_id=reply,
            request_id=rid,
            requester="DE-BKA",
            responder="ES-PN",
            outcome="replied",
            message_kind="REPLY",
        )
        return _at(ev, at)

    h = dt.timedelta(hours=1)
    events = [
        # r1: delivered at T0 (the node noted it later), answered in 2 h: in time.
        _router("DELIVER", "r1", "ES-PN", T0),
        received("r1", "URGENT_DIRECT", T0 + h),
        answered("r1", "a1", T0 + 2 * h),
        _router("ROUTE", "a1", "ES-PN", T0 + 2 * h),
        # r2: answered after 10 h: late (8 h limit).
        _router("DELIVER", "r2", "ES-PN", T0),
        received("r2", "URGENT_DIRECT", T0),
        answered("r2", "a2", T0 + 10 * h),
        _router("ROUTE", "a2", "ES-PN", T0 + 10 * h),
        # r3: standard, unanswered, 10 h old: pending.
        received("r3", "STANDARD", T0),
    ]
    stats = deadline_statistics(events)["ES-PN"]
    assert stats["urgent-direct"] == {
        "requests": 2,
        "answered": 2,
        "in_time": 1,
        "late": 1,
        "pending": 0,
        "share_in_time": 0.5,
        "median_answer_s": 6 * 3600.0,
    }
    assert stats["standard"]["pending"] == 1 and stats["standard"]["share_in_time"] is None
    assert stats["all"]["requests"] == 3
