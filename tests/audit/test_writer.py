"""The audit writer on the real broker: checkpoints every N events or T seconds when the tree
grew, an unchanged one re-published when idle, nothing lost while Kafka is unreachable, and
federation administration recorded in its own stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.audit.auditor import flush_stream, replay_and_verify
from broker.audit.checkpoint import Checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind
from broker.audit.replay import read_topic
from broker.audit.writer import CheckpointPolicy, load_audit_log
from broker.codec import SchemaStore
from broker.config import Settings
from broker.errors import TransportError
from broker.federation import init_federation, revoke_key, rotate_keys
from broker.local.ports import free_port
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics

pytestmark = pytest.mark.kafka


@pytest.fixture
async def home(tmp_path: Path, kafka_bootstrap: str, unique: str) -> Settings:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"l{unique}")
    init_federation(settings, agencies=["ES-PN", "DE-BKA"])
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    await ensure_topics(conn, layout=TopicLayout(prefix=settings.topic_prefix), agencies=[])
    return settings


def _conn(settings: Settings) -> KafkaConnection:
    assert settings.kafka_bootstrap is not None
    return KafkaConnection(bootstrap=settings.kafka_bootstrap, client_id="tests")


async def _checkpoint_sizes(settings: Settings) -> list[int]:
    store = SchemaStore.default()
    fp = store.fingerprint(CHECKPOINT_SCHEMA)
    records = await read_topic(_conn(settings), TopicLayout(prefix=settings.topic_prefix).audit)
    return [
        store.decode(CHECKPOINT_SCHEMA, r.value)["size"] for r in records if r.value[2:10] == fp
    ]


async def test_checkpoint_every_n_events_and_a_final_one_on_close(home: Settings) -> None:
    policy = CheckpointPolicy(every_events=5, every_seconds=3600, republish_seconds=3600)
    log = load_audit_log(home, stream="ES-PN", conn=_conn(home), policy=policy)
    for _ in range(5):
        log.emit(AuditKind.PUBLISH)
    await log.flush()
    for _ in range(3):
        log.emit(AuditKind.OPEN)
    await log.flush()  # 3 < 5 and the hour has not passed: no checkpoint yet
    await log.close()  # the final one covers the rest
    assert [s for s in await _checkpoint_sizes(home)] == [5, 8]
    verifier = await replay_and_verify(home, conn=_conn(home))
    es = verifier.report.streams["ES-PN"]
    assert (es["size"], es["unanchored"]) == (8, 0)


async def test_checkpoint_after_t_seconds_and_idle_republication(home: Settings) -> None:
    policy = CheckpointPolicy(every_events=1000, every_seconds=0.2, republish_seconds=0.4)
    log = load_audit_log(home, stream="DE-BKA", conn=_conn(home), policy=policy)
    log.emit(AuditKind.OPEN)
    await asyncio.sleep(0.3)
    await log.flush()  # T passed with growth: signed at size 1
    await log.flush()  # no growth, republication not due: nothing
    await asyncio.sleep(0.5)
    await log.flush()  # still no growth, but silence must be visible: the same note again
    await log.close()
    assert await _checkpoint_sizes(home) == [1, 1]
    verifier = await replay_and_verify(home, conn=_conn(home))
    assert verifier.report.ok, [f.line() for f in verifier.report.findings]


async def test_events_wait_in_the_journal_while_kafka_is_unreachable(home: Settings) -> None:
    dead = KafkaConnection(bootstrap=f"127.0.0.1:{free_port()}", client_id="tests")
    log = load_audit_log(home, stream="ES-PN", conn=dead)
    emitted = [log.emit(AuditKind.PUBLISH, envelope_id=f"e{i}") for i in range(4)]
    with pytest.raises(TransportError):
        await asyncio.wait_for(log.flush(), 60)
    log.journal.close()

    # Later, with Kafka back: everything goes out, in order, gap-free.
    pending = await flush_stream(home, stream="ES-PN", conn=_conn(home))
    assert pending == 4
    verifier = await replay_and_verify(home, conn=_conn(home), keep_events=True)
    assert verifier.report.ok, [f.line() for f in verifier.report.findings]
    got = [ev for ev, _ in verifier.events if ev.stream == "ES-PN"]
    assert [e.event_id for e in got] == [e.event_id for e in emitted]


async def test_federation_administration_is_audited(home: Settings) -> None:
    rotate_keys(home, agency="DE-BKA", usages=("SIGN",))
    trust_key = rotate_keys(home, agency="DE-BKA", usages=("ENCRYPT",))[0]
    revoke_key(home, agency="DE-BKA", key_id=trust_key, reason="synthetic test")
    await flush_stream(home, stream="federation", conn=_conn(home))
    verifier = await replay_and_verify(home, conn=_conn(home), keep_events=True)
    assert verifier.report.ok
    admin = [ev for ev, _ in verifier.events if ev.stream == "federation"]
    kinds = [ev.kind for ev in admin]
    assert kinds.count(AuditKind.AGENCY_ADD) == 2
    assert kinds.count(AuditKind.KEY_CREATE) == 4
    assert kinds[-3:] == [AuditKind.KEY_ROTATE, AuditKind.KEY_ROTATE, AuditKind.KEY_REVOKE]
    revoked: AuditEvent = admin[-1]
    assert (revoked.parties, revoked.ref, revoked.reason) == (
        ["DE-BKA"],
        trust_key,
        "synthetic test",
    )


async def test_close_returns_while_the_writer_is_busy(home: Settings) -> None:
    """Regression: closing a node right after a burst once hung (a cancel lost in a race
    between the publisher's wait and its wake-up); close must always finish its round."""
    policy = CheckpointPolicy(every_events=50, every_seconds=0.05, republish_seconds=0.1)
    for round_ in range(15):
        log = load_audit_log(home, stream="ES-PN", conn=_conn(home), policy=policy)
        await log.start()
        for i in range(200):
            log.emit(AuditKind.PUBLISH, envelope_id=f"r{round_}-{i}")
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the publisher wake up mid-burst
        await asyncio.wait_for(log.close(), 60)
    verifier = await replay_and_verify(home, conn=_conn(home))
    assert verifier.report.ok, [f.line() for f in verifier.report.findings]
    assert verifier.report.streams["ES-PN"]["size"] == 15 * 200


async def _notes(settings: Settings, stream: str) -> list[Checkpoint]:
    store = SchemaStore.default()
    fp = store.fingerprint(CHECKPOINT_SCHEMA)
    records = await read_topic(_conn(settings), TopicLayout(prefix=settings.topic_prefix).audit)
    out = []
    for r in records:
        if r.value[2:10] == fp:
            rec = store.decode(CHECKPOINT_SCHEMA, r.value)
            if rec["stream"] == stream:
                out.append(Checkpoint.parse(rec["note"].split(b"\n\n")[0] + b"\n"))
    return out


async def test_checkpoints_carry_a_signed_time_renewed_at_each_republication(
    home: Settings,
) -> None:
    """F6: the writer signs `time <unix seconds>` and re-signs the unchanged tree when it
    re-publishes it; an empty stream signs the empty tree (F5: it shows that it exists)."""
    policy = CheckpointPolicy(every_events=1000, every_seconds=0.1, republish_seconds=1.0)
    log = load_audit_log(home, stream="DE-BKA", conn=_conn(home), policy=policy)
    await log.flush()  # nothing written yet: the empty tree
    log.emit(AuditKind.OPEN)
    await asyncio.sleep(0.2)
    await log.flush()  # grew and T passed: size 1
    await asyncio.sleep(1.1)
    await log.flush()  # unchanged, due again: size 1 re-signed with a later time
    await log.close()
    notes = await _notes(home, "DE-BKA")
    assert [cp.size for cp in notes] == [0, 1, 1]
    times = [cp.time for cp in notes]
    assert all(t is not None for t in times)
    assert times[2] > times[1] >= times[0]  # type: ignore[operator]
    verifier = await replay_and_verify(home, conn=_conn(home))
    assert verifier.report.ok, [f.line() for f in verifier.report.findings]
    info = verifier.report.streams["DE-BKA"]
    assert info["newest_checkpoint_time"] == times[2] and info["fresh"] is True
    assert info["anchored_against_rollback"] is True  # the writer's copy outside Kafka
