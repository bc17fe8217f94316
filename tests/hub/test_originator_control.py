"""Originator control end to end on the real broker: the hub never names a restricted owner,
a grant releases exactly what it names, and a grant that widens the audience is refused."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.agency import AgencyNode
from broker.audit.auditor import replay_and_verify
from broker.audit.events import ROUTER_STREAM, AuditKind
from broker.audit.writer import load_audit_log
from broker.codec import SchemaStore
from broker.config import Settings
from broker.deadletter import DeadLetter
from broker.federation import init_federation
from broker.hub import Hub, HubIndex
from broker.models import Dossier
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_trust
from tests.kafka_helpers import read_all

AGENCIES = ["ES-PN", "DE-BKA", "IT-PS", "EUROPOL"]
PHONE = "+447700900888"
STORE = SchemaStore.default()


@dataclass
class Fed:
    settings: Settings
    conn: KafkaConnection
    layout: TopicLayout
    index: HubIndex

    def node(self, agency: str) -> AgencyNode:
        return AgencyNode.load(self.settings, agency=agency, conn=self.conn)

    async def route(self) -> None:
        router = Router(
            conn=self.conn,
            layout=self.layout,
            check=EnvelopeCheck(trust=load_trust(self.settings)),
            transactional_id=f"{self.layout.router_group}.hubtest",
            audit=load_audit_log(self.settings, stream=ROUTER_STREAM, conn=self.conn),
        )
        await router.run(until_idle=1.5)

    async def hub(self) -> Hub:
        node = self.node("EUROPOL")
        hub = Hub(node=node, index=self.index)
        async with node:
            await node.consume(handler=hub.on_delivery, until_idle=1.5, send_receipts=False)
        return hub

    async def inbox(self, agency: str, kind: str) -> list[tuple[dict[str, Any], bytes]]:
        node = self.node(agency)
        async with node:
            await node.consume(until_idle=1.5, send_receipts=False)
            items = node.store.inbox(kind=kind)
        schema = {
            "HIT_NOTIFICATION": "eu.fed.HitNotification",
            "RELEASE_REQUEST": "eu.fed.ReleaseRequest",
        }[kind]
        return [(STORE.decode(schema, i.payload), i.payload) for i in items]


@pytest.fixture
async def fed(tmp_path: Path, kafka_bootstrap: str, unique: str) -> AsyncIterator[Fed]:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"h{unique}")
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=1)
    index = HubIndex.open(tmp_path / "hub.db")
    yield Fed(settings=settings, conn=conn, layout=layout, index=index)
    index.close()


def _dossier(seed: int, *, restricted: bool) -> Dossier:
    doc = example_dossier(seed).model_dump()
    doc["persons"] = doc["persons"][:1]
    doc["persons"][0]["selectors"] = [{"type": "PHONE_E164", "value": PHONE, "platform": None}]
    doc["persons"][0]["documents"], doc["groups"], doc["devices"], doc["media"] = [], [], [], []
    doc["codes"]["handling"], doc["codes"]["tlp"] = (
        (["H0", "H2"], "AMBER_STRICT") if restricted else (["H0"], "GREEN")
    )
    return Dossier.model_validate(doc)


async def _grant(fed: Fed, sender: str, request: dict[str, Any], release_to: list[str]) -> None:
    payload = STORE.encode(
        "eu.fed.ReleaseGrant",
        {
            "request_id": request["request_id"],
            "hit_key": request["hit_key"],
            "release_to": release_to,
            "at": dt.datetime.now(dt.UTC),
        },
    )
    codes = _dossier(1, restricted=True).codes.to_avro()
    async with fed.node(sender) as node:
        await node.publish(payload, kind="RELEASE_GRANT", codes=codes, to=["EUROPOL"])


async def test_restricted_holding_is_withheld_then_released_exactly_as_granted(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        es_pub = await es.publish_dossier(_dossier(1, restricted=True), to=["EUROPOL"])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(_dossier(2, restricted=False), to=["EUROPOL"])
    await fed.route()
    hub = await fed.hub()
    assert hub.notifications == 2 and hub.release_requests == 1
    await fed.route()

    # DE-BKA learns there is a hit, not who holds it: ES-PN's dossier is H2 / AMBER+STRICT.
    ((de_hit, de_bytes),) = await fed.inbox("DE-BKA", "HIT_NOTIFICATION")
    assert de_hit["other_agencies"] == [] and de_hit["permission_required"] is True
    assert de_hit["selector_value"] == PHONE  # its own value
    # Leak attempt: nothing of ES-PN is anywhere in the bytes DE-BKA received.
    for secret in (b"ES-PN", es_pub.envelope_id.encode()):
        assert secret not in de_bytes
    # ES-PN is told DE-BKA holds it (DE-BKA's dossier is unrestricted) and is asked to release.
    ((es_hit, _),) = await fed.inbox("ES-PN", "HIT_NOTIFICATION")
    assert es_hit["other_agencies"] == ["DE-BKA"] and es_hit["permission_required"] is False
    ((request, _),) = await fed.inbox("ES-PN", "RELEASE_REQUEST")
    assert request["requested_for"] == ["DE-BKA"]

    # An attempt to widen the audience (IT-PS was never asked about) is refused...
    await _grant(fed, "ES-PN", request, ["DE-BKA", "IT-PS"])
    # ... so is a grant forged by DE-BKA for ES-PN's request ...
    await _grant(fed, "DE-BKA", request, ["DE-BKA"])
    # ... and ES-PN's genuine grant, from the CLI, releases exactly to DE-BKA.
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP=fed.conn.bootstrap,
        BROKER_TOPIC_PREFIX=fed.layout.prefix,
        BROKER_HOME=str(fed.settings.home),
    )
    listed = subprocess.run(
        [sys.executable, "-m", "broker", "hub", "requests", "--as", "ES-PN"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert request["request_id"] in listed.stdout
    subprocess.run(
        [
            sys.executable,
            "-m",
            "broker",
            "hub",
            "grant",
            "--as",
            "ES-PN",
            "--request",
            request["request_id"],
            "--to",
            "DE-BKA",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    await fed.route()
    await fed.hub()
    await fed.route()
    hits = [h for h, _ in await fed.inbox("DE-BKA", "HIT_NOTIFICATION")]
    assert hits[-1]["other_agencies"] == ["ES-PN"]
    assert await fed.inbox("IT-PS", "HIT_NOTIFICATION") == []
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(fed.conn, fed.layout.rejected("EUROPOL"), expect=2)
    ]
    assert len(letters) == 2
    details = " ".join(letter.detail or "" for letter in letters)
    assert "widens the audience" in details and "not signed by the owner" in details
    assert fed.index.release_request(request["request_id"])["status"] == "GRANTED"  # type: ignore[index]

    # The audit trail holds the whole story, and its rules hold: the release was granted.
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
    released = [
        ev
        for ev, _ in audit.events
        if ev.kind is AuditKind.HIT_NOTIFICATION and ev.outcome == "released"
    ]
    assert [(ev.parties, ev.ref) for ev in released] == [
        (["EUROPOL", "DE-BKA", "ES-PN"], request["request_id"])
    ]
    grants = [ev for ev, _ in audit.events if ev.kind is AuditKind.RELEASE_GRANT]
    assert [(ev.stream, ev.parties) for ev in grants] == [("ES-PN", ["ES-PN", "DE-BKA"])]
    rejected = [ev.reason for ev, _ in audit.events if ev.kind is AuditKind.REJECT]
    assert rejected == ["invalid-payload", "invalid-payload"]


async def test_hit_notifications_are_never_dated_before_the_open_that_caused_them(
    fed: Fed,
) -> None:
    """Audit rule gap: the OPEN is stamped before the hub's handler runs, not after it."""
    async with fed.node("ES-PN") as es:
        await es.publish_dossier(_dossier(1, restricted=True), to=["EUROPOL"])
    async with fed.node("DE-BKA") as de:
        trigger = await de.publish_dossier(_dossier(2, restricted=False), to=["EUROPOL"])
    await fed.route()
    await fed.hub()
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    hub_events = [ev for ev, _ in audit.events if ev.stream == "EUROPOL"]
    (opened,) = [
        ev
        for ev in hub_events
        if ev.kind is AuditKind.OPEN and ev.envelope_id == trigger.envelope_id
    ]
    caused = [
        ev
        for ev in hub_events
        if ev.kind in (AuditKind.HIT_NOTIFICATION, AuditKind.RELEASE_REQUEST)
    ]
    assert len(caused) == 3  # two notifications and ES-PN's release request
    assert all(opened.at <= ev.at for ev in caused), (opened.at, [ev.at for ev in caused])
