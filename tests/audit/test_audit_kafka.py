"""The audit trail on the real broker: every node writes, the auditor replays fed.audit from
offset 0, and copies of the log (and of an export) rewritten five ways are each caught and
located; proofs verify and a tampered proof fails; a dossier's chain of custody is shown."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from typer.testing import CliRunner, Result

from broker.agency import AgencyNode
from broker.audit.auditor import flush_stream, replay_and_verify, verify_archive
from broker.audit.events import FEDERATION_STREAM, ROUTER_STREAM, AuditKind
from broker.audit.export import EVENTS
from broker.audit.findings import FindingKind, RawRecord
from broker.audit.keys import load_audit_keys
from broker.audit.proof import build_proof, check_proof
from broker.audit.replay import read_topic
from broker.audit.verify import AuditVerifier
from broker.audit.writer import load_audit_log
from broker.cli import app
from broker.config import Settings
from broker.errors import ProofError
from broker.federation import init_federation
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_trust
from tests.audit import tamper
from tests.kafka_helpers import create_topic

pytestmark = pytest.mark.kafka
AGENCIES = ["ES-PN", "DE-BKA", "IT-PS"]
#: Idle-bounded rounds before a helper gives up waiting for what it expects (a loaded machine).
ROUNDS = 10


@dataclasses.dataclass
class Audited:
    settings: Settings
    conn: KafkaConnection
    layout: TopicLayout
    envelope_ids: list[str]
    records: list[RawRecord]


async def _route(
    settings: Settings, conn: KafkaConnection, layout: TopicLayout, *, expect: int
) -> None:
    """Run the router until it consumed ``expect`` records (idle rounds, not a fixed wait)."""
    consumed = 0
    for _ in range(ROUNDS):
        consumed += await _route_once(settings, conn, layout)
        if consumed >= expect:
            return
    raise AssertionError(f"the router consumed {consumed} records, expected {expect}")


async def _consume(
    settings: Settings, conn: KafkaConnection, agency: str, *, receipts: int = 0, delivered: int = 0
) -> None:
    """Run ``agency``'s inbox until it took ``receipts`` receipts and ``delivered`` dossiers."""
    got = [0, 0]
    async with AgencyNode.load(settings, agency=agency, conn=conn) as node:
        for _ in range(ROUNDS):
            stats = await node.consume(until_idle=2.0)
            got = [got[0] + stats.receipts, got[1] + stats.delivered]
            if got[0] >= receipts and got[1] >= delivered:
                return
    raise AssertionError(
        f"{agency} took {got} (receipts, dossiers), expected {[receipts, delivered]}"
    )


async def _route_once(settings: Settings, conn: KafkaConnection, layout: TopicLayout) -> int:
    router = Router(
        conn=conn,
        layout=layout,
        check=EnvelopeCheck(trust=load_trust(settings)),
        transactional_id=f"{layout.router_group}.test",
        audit=load_audit_log(settings, stream=ROUTER_STREAM, conn=conn),
    )
    return (await router.run(until_idle=2.0)).consumed


@pytest.fixture(scope="module")
async def audited(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[Audited]:
    """A small federation that did real work: publish, route, open, receipts, a rejection."""
    home = tmp_path_factory.mktemp("audit")
    settings = Settings(
        home=home, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"a{home.name}"[-20:]
    )
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=2)
    await flush_stream(settings, stream=FEDERATION_STREAM, conn=conn)
    ids = []
    async with AgencyNode.load(settings, agency="ES-PN", conn=conn) as sender:
        for i in range(12):
            to = ["DE-BKA", "IT-PS"] if i % 2 else ["DE-BKA"]
            ids.append((await sender.publish_dossier(example_dossier(i), to=to)).envelope_id)
    producer = conn.producer()
    await producer.start()
    try:  # a hostile record in IT-PS's outbox: rejected by the router, and audited
        await producer.send_and_wait(layout.outbox("IT-PS"), b"\x00not an envelope")
    finally:
        await producer.stop()
    await _route(settings, conn, layout, expect=13)  # 12 dossiers and the hostile record
    await _consume(settings, conn, "DE-BKA", delivered=12)
    await _consume(settings, conn, "IT-PS", delivered=6)
    await _route(settings, conn, layout, expect=18)  # the receipts
    await _consume(settings, conn, "ES-PN", receipts=18)
    records = await read_topic(conn, layout.audit)
    yield Audited(settings=settings, conn=conn, layout=layout, envelope_ids=ids, records=records)


async def test_an_honest_network_log_verifies_ok_with_every_kind_of_event(
    audited: Audited,
) -> None:
    verifier = await replay_and_verify(audited.settings, conn=audited.conn, keep_events=True)
    report = verifier.report
    assert report.ok, [f.line() for f in report.findings]
    assert set(report.streams) == {"ES-PN", "DE-BKA", "IT-PS", "router", "federation"}
    assert all(info["unanchored"] == 0 for info in report.streams.values())
    kinds = {ev.kind for ev, _ in verifier.events}
    assert {
        AuditKind.PUBLISH,
        AuditKind.ROUTE,
        AuditKind.DELIVER,
        AuditKind.OPEN,
        AuditKind.RECEIPT,
        AuditKind.REJECT,
        AuditKind.AGENCY_ADD,
        AuditKind.KEY_CREATE,
    } <= kinds
    rejects = [ev for ev, _ in verifier.events if ev.kind is AuditKind.REJECT]
    assert [(ev.stream, ev.reason) for ev in rejects] == [("router", "malformed")]
    # Events carry hashes and ids, never dossier content.
    raw = b"".join(r.value for r in audited.records)
    assert example_dossier(0).case_ref.encode() not in raw


async def _cli(audited: Audited, args: list[str]) -> Result:
    """Run the CLI in a thread (its commands run their own event loop)."""
    env = {
        "BROKER_HOME": str(audited.settings.home),
        "KAFKA_BOOTSTRAP": audited.conn.bootstrap,
        "BROKER_TOPIC_PREFIX": audited.settings.topic_prefix,
    }
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=env)


async def _copy(audited: Audited, name: str, records: list[RawRecord]) -> str:
    topic = f"{audited.layout.audit}-{name}"
    await create_topic(audited.conn, topic, partitions=2)
    producer = audited.conn.producer()
    await producer.start()
    try:
        for r in records:
            await producer.send(topic, value=r.value, key=r.key, partition=r.partition)
        await producer.flush()
    finally:
        await producer.stop()
    return topic


def _some(records: list[RawRecord], stream: str) -> int:
    """A sequence number in the middle of ``stream``."""
    verifier = AuditVerifier(keys={})
    verifier.feed_all(records)
    return verifier.streams[stream].size // 2


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ("modify", FindingKind.MODIFIED),
        ("delete", FindingKind.DELETED),
        ("reorder", FindingKind.REORDERED),
        ("inject", FindingKind.INJECTED),
        ("truncate", FindingKind.TRUNCATED),
    ],
)
async def test_attack_rewritten_copy_of_fed_audit_is_caught_and_located(
    audited: Audited, attack: str, expected: FindingKind
) -> None:
    seq = _some(audited.records, "ES-PN")
    rewrite = {
        "modify": tamper.modify("ES-PN", seq),
        "delete": tamper.delete("ES-PN", seq),
        "reorder": tamper.reorder("ES-PN", seq),
        "inject": tamper.inject("ES-PN", seq),
        "truncate": tamper.truncate("ES-PN", seq),
    }[attack]
    topic = await _copy(audited, attack, rewrite(audited.records))
    verifier = await replay_and_verify(audited.settings, conn=audited.conn, topic=topic)
    found = [f for f in verifier.report.findings if f.kind is expected]
    assert found, [f.line() for f in verifier.report.findings]
    assert found[0].stream == "ES-PN"
    assert found[0].where is not None
    if attack != "modify":
        assert found[0].seq == seq


async def test_attack_rewritten_export_is_caught_offline(audited: Audited, tmp_path: Path) -> None:
    archive = tmp_path / "export"
    result = await _cli(audited, ["audit", "export", str(archive), "--as", "DE-BKA"])
    assert result.exit_code == 0, result.output
    assert verify_archive(audited.settings, archive).report.ok

    result = await _cli(audited, ["audit", "verify", "--archive", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True

    with (archive / EVENTS).open("rb") as fh:
        reader = fastavro.reader(fh)
        schema = reader.writer_schema
        rows: list[dict[str, Any]] = [r for r in reader if isinstance(r, dict)]
    events = [
        RawRecord(partition=r["partition"], offset=r["offset"], key=r["key"], value=r["value"])
        for r in rows
    ]
    seq = _some(events, "ES-PN")
    for rewrite, expected in [
        (tamper.modify("ES-PN", seq), FindingKind.MODIFIED),
        (tamper.delete("ES-PN", seq), FindingKind.DELETED),
        (tamper.reorder("ES-PN", seq), FindingKind.REORDERED),
        (tamper.inject("ES-PN", seq), FindingKind.INJECTED),
        (tamper.truncate("ES-PN", seq), FindingKind.TRUNCATED),
    ]:
        forged = rewrite(events)
        with (archive / EVENTS).open("wb") as fh:
            fastavro.writer(fh, schema, [dataclasses.asdict(r) for r in forged])
        report = verify_archive(audited.settings, archive).report
        kinds = [f.kind for f in report.findings]
        assert expected in kinds, [f.line() for f in report.findings]
        # The signed manifest's file hash no longer matches either.
        assert report.findings[0].where == "archive"
        result = await _cli(audited, ["audit", "verify", "--archive", str(archive)])
        assert result.exit_code == 1
        assert expected.value.upper() in result.output


async def test_a_proof_shows_one_event_and_a_tampered_proof_fails(audited: Audited) -> None:
    verifier = await replay_and_verify(audited.settings, conn=audited.conn, keep_events=True)
    event = next(ev for ev, _ in verifier.events if ev.kind is AuditKind.OPEN)
    doc = build_proof(verifier, event_id=event.event_id)
    keys = load_audit_keys(audited.settings)
    assert check_proof(doc, keys=keys).event_id == event.event_id
    # The proof carries one event and log hashes, nothing else of the log.
    assert set(doc) == {"format", "stream", "index", "tree_size", "event", "proof", "checkpoint"}

    forged_event = dataclasses.replace(event, parties=[event.parties[0], "XX-FAKE"])
    for bad, why in [
        ({**doc, "event": base64.b64encode(forged_event.to_bytes()).decode()}, "not in the"),
        ({**doc, "index": doc["index"] + 1}, "not in the"),
        ({**doc, "proof": [base64.b64encode(bytes(32)).decode(), *doc["proof"][1:]]}, "not in the"),
        ({**doc, "checkpoint": doc["checkpoint"].replace("\n\n", "\n\n\n")}, "checkpoint"),
        ({**doc, "stream": "IT-PS" if doc["stream"] != "IT-PS" else "DE-BKA"}, "checkpoint"),
    ]:
        with pytest.raises(ProofError, match=why):
            check_proof(bad, keys=keys)


async def test_cli_proof_and_check_proof_roundtrip(audited: Audited, tmp_path: Path) -> None:
    verifier = await replay_and_verify(audited.settings, conn=audited.conn, keep_events=True)
    event = next(ev for ev, _ in verifier.events if ev.kind is AuditKind.PUBLISH)
    out = tmp_path / "proof.json"
    result = await _cli(audited, ["audit", "proof", "--event", event.event_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = await _cli(audited, ["audit", "check-proof", str(out)])
    assert result.exit_code == 0, result.output
    assert "proof OK" in result.output and "PUBLISH" in result.output
    doc = json.loads(out.read_text())
    doc["tree_size"] += 1
    out.write_text(json.dumps(doc))
    result = await _cli(audited, ["audit", "check-proof", str(out)])
    assert result.exit_code != 0


async def test_trail_shows_a_dossiers_chain_of_custody_in_time_order(audited: Audited) -> None:
    envelope = audited.envelope_ids[1]  # sent to DE-BKA and IT-PS
    result = await _cli(audited, ["audit", "trail", "--dossier", envelope, "--json"])
    assert result.exit_code == 0, result.output
    trail = json.loads(result.output)
    steps = [(t["kind"], t["actor"]) for t in trail]
    assert steps[0] == ("PUBLISH", "ES-PN")
    assert ("ROUTE", "router") in steps
    assert {("DELIVER", "router"), ("OPEN", "DE-BKA"), ("OPEN", "IT-PS")} <= set(steps)
    assert {("RECEIPT", "ES-PN")} <= set(steps)
    assert [t["at"] for t in trail] == sorted(t["at"] for t in trail)
    assert all(t["verified"] for t in trail)  # every step is covered by a signed checkpoint


async def test_cli_verify_prints_ok_and_exits_zero_on_the_honest_log(audited: Audited) -> None:
    result = await _cli(audited, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit log OK" in result.output
