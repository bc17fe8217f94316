"""A restriction and a recall reach an agency a hit was released to, through the hub.

Real broker: ES-PN's restricted dossier and DE-BKA's dossier share a phone; ES-PN grants
the hub's release request, so DE-BKA is told ES-PN holds it. ES-PN then restricts and
recalls its dossier, sending both orders to its only recipient, the hub. The hub relays
the owner's signed copy of each to DE-BKA, which applies it to the released hit and
answers ES-PN with its own signed receipt — shown in ES-PN's ``broker compliance``.
While DE-BKA is offline past the recall's deadline, ``broker compliance`` shows it overdue
and the audit verifier reports the same agency and dossier (rule 5); once it answers, neither.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest
from typer.testing import CliRunner

from broker.agency import AgencyNode
from broker.agency.control import compliance_table, recall, restrict
from broker.audit.auditor import replay_and_verify
from broker.audit.findings import FindingKind
from broker.cli import app
from broker.codec import SchemaStore
from broker.hub.grant import grant_release, release_requests
from broker.topics import HUB
from tests.hub.live import Fed, consume_until, dossier

pytestmark = pytest.mark.kafka

REASON = "Regulation (EU) 2016/794 Art. 19(2): source at risk"
#: The recall's deadline (a setting of the order; 24 h by default): DE-BKA misses it.
DEADLINE = dt.timedelta(seconds=3)


def _names_es_pn(payload: bytes) -> bool:
    hit = SchemaStore.default().decode("eu.fed.HitNotification", payload)
    return "ES-PN" in hit["other_agencies"]


async def _answers(fed: Fed, agency: str, order_id: str, expect: int) -> dict[str, str]:
    """Consume ``agency``'s inbox until ``expect`` answers to ``order_id``; holder -> status."""
    async with fed.node(agency) as node:

        def answered() -> dict[str, str]:
            return {
                ln.holder: ln.status
                for ln in compliance_table(node.control.ledger)
                if ln.order_id == order_id and ln.status != "PENDING"
            }

        await consume_until(node, lambda: len(answered()) >= expect, send_receipts=False)
        return answered()


async def _applied(node: AgencyNode, order_id: str) -> None:
    """Consume ``node``'s inbox until it has answered ``order_id``."""
    await consume_until(
        node, lambda: node.control.ledger.answered(order_id) is not None, send_receipts=False
    )


def _compliance(fed: Fed, action: str) -> dict[str, tuple[str, str | None]]:
    """``broker compliance --as ES-PN --json``: holder -> (status, via) for ``action``."""
    out = CliRunner().invoke(
        app, ["compliance", "--as", "ES-PN", "--json", "--home", str(fed.settings.home)]
    )
    assert out.exit_code == 0, out.output
    return {
        r["holder"]: (r["status"], r["via"])
        for r in json.loads(out.output)
        if r["action"] == action
    }


async def test_restriction_and_recall_reach_the_agency_a_hit_was_released_to(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(21, restricted=True), to=[HUB])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(dossier(22, restricted=False), to=[HUB])
    await fed.route(expect=2)
    hub = await fed.hub(expect=2)
    await fed.route(expect=hub.notifications + hub.release_requests)
    await fed.inbox("ES-PN", "RELEASE_REQUEST", expect=1)
    async with fed.node("ES-PN") as es:  # the owner releases the hit to DE-BKA
        (request,) = release_requests(es.store)
        await grant_release(es, request_id=request.request_id, release_to=["DE-BKA"])
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=1)
    assert [h["other_agencies"] for h in await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=2)][
        -1
    ] == ["ES-PN"]

    # Restrict: ES-PN's order goes to the hub only; the hub relays it to DE-BKA.
    async with fed.node("ES-PN") as es:
        restriction = await restrict(es, sent.envelope_id, reason=REASON, pap="RED")
    assert restriction.holders == [HUB]
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=2)  # the hub's receipt, and the relayed order to DE-BKA
    async with fed.node("DE-BKA") as de:
        await _applied(de, restriction.order_id)
        assert de.control.ledger.answered(restriction.order_id) == ("APPLIED", None)
        codes = de.control.ledger.restricted_codes("ES-PN", sent.envelope_id)
        assert codes is not None and codes["pap"] == "RED"
    await fed.route(expect=1)
    assert await _answers(fed, "ES-PN", restriction.order_id, expect=2) == {
        HUB: "APPLIED",
        "DE-BKA": "APPLIED",
    }

    # Recall, with a short deadline: DE-BKA stays offline past it. The owner's table and
    # the audit verifier both name DE-BKA (the hub's receipt and its CONTROL_RELAY event).
    async with fed.node("ES-PN") as es:
        order = await recall(es, sent.envelope_id, reason=REASON, deadline=DEADLINE)
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=2)  # the hub's receipt to ES-PN; the relayed order waits for DE-BKA
    await asyncio.sleep(max(0.0, order.deadline - time.time()) + 1)  # the deadline itself
    async with fed.node("ES-PN") as es:  # collects the hub's DESTROYED, after the deadline
        await consume_until(
            es, lambda: es.control.ledger.answers(order.order_id).get(HUB) is not None,
            send_receipts=False,
        )  # fmt: skip
    assert _compliance(fed, "RECALL") == {
        HUB: ("DESTROYED", None),
        "DE-BKA": ("OVERDUE", HUB),
    }
    audit = await replay_and_verify(fed.settings, conn=fed.conn)
    assert [(f.kind, f.stream) for f in audit.report.findings] == [(FindingKind.RULE, "DE-BKA")]
    (finding,) = audit.report.findings
    assert finding.detail == (
        f"recall {order.order_id} of {sent.envelope_id} by ES-PN: no DESTROYED from DE-BKA "
        f"(relayed by {HUB}) by its deadline "
        f"{dt.datetime.fromtimestamp(order.deadline, dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
    )

    # DE-BKA comes back: erases the released hit (the notification naming ES-PN), keeps the other.
    async with fed.node("DE-BKA") as de:
        await _applied(de, order.order_id)
        assert de.control.ledger.answered(order.order_id) == ("DESTROYED", None)
        hits = de.store.inbox(kind="HIT_NOTIFICATION")
        assert len(hits) == 1 and not _names_es_pn(hits[0].payload)
        assert de.control.ledger.is_recalled("ES-PN", sent.envelope_id)
    await fed.route(expect=1)
    assert await _answers(fed, "ES-PN", order.order_id, expect=2) == {
        HUB: "DESTROYED",
        "DE-BKA": "DESTROYED",
    }

    # The owner's `broker compliance`: DE-BKA's own signed answers, relayed via the hub.
    assert _compliance(fed, "RESTRICT") == {HUB: ("APPLIED", None), "DE-BKA": ("APPLIED", HUB)}
    assert _compliance(fed, "RECALL") == {HUB: ("DESTROYED", None), "DE-BKA": ("DESTROYED", HUB)}
    audit = await replay_and_verify(fed.settings, conn=fed.conn)
    assert audit.report.ok, [f.line() for f in audit.report.findings]


async def test_restricted_agency_answers_the_hub_and_only_the_hubs_table_shows_it(fed: Fed) -> None:
    # DE-BKA's own holding is restricted; it is told ES-PN (releasable) holds the phone.
    async with fed.node("ES-PN") as es:
        sent = await es.publish_dossier(dossier(23, restricted=False), to=[HUB])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(dossier(24, restricted=True), to=[HUB])
    await fed.route(expect=2)
    hub = await fed.hub(expect=2)
    await fed.route(expect=hub.notifications + hub.release_requests)
    told = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=1)
    assert any(h["other_agencies"] == ["ES-PN"] for h in told)

    async with fed.node("ES-PN") as es:
        order = await recall(es, sent.envelope_id, reason=REASON)
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=2)  # the hub's receipt to ES-PN, the relayed order to DE-BKA
    async with fed.node("DE-BKA") as de:
        await _applied(de, order.order_id)
        assert de.control.ledger.answered(order.order_id) == ("DESTROYED", None)
    await fed.route(expect=1)  # DE-BKA's receipt goes to the hub, not to ES-PN
    await fed.hub(expect=1)
    assert await _answers(fed, "ES-PN", order.order_id, expect=1) == {HUB: "DESTROYED"}
    assert _compliance(fed, "RECALL") == {HUB: ("DESTROYED", None)}  # DE-BKA never named

    out = CliRunner().invoke(
        app, ["compliance", "--as", HUB, "--json", "--home", str(fed.settings.home)]
    )
    assert out.exit_code == 0, out.output
    rows = [(r["holder"], r["owner"], r["status"], r["via"]) for r in json.loads(out.output)]
    assert rows == [("DE-BKA", "ES-PN", "DESTROYED", HUB)]
    audit = await replay_and_verify(fed.settings, conn=fed.conn)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
