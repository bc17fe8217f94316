"""The auditor's jobs, online (replaying ``fed.audit``) and offline (from an archive).

These are what ``broker audit ...`` runs; the CLI only parses options and prints.

Checkpoints "known outside the broker" default to the notes each writer keeps
under ``<home>/state/<stream>/audit-checkpoint.note``; an auditor who keeps
witnesses' copies passes them with ``--checkpoint``.

Example::

    verifier = await replay_and_verify(settings, conn=conn)
    print(verifier.report.ok)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from broker import home
from broker.audit.events import AuditEvent
from broker.audit.export import read_archive, write_archive
from broker.audit.findings import AuditReport, Finding, FindingKind, RawRecord
from broker.audit.keys import load_audit_key_times, load_audit_keys
from broker.audit.replay import read_topic
from broker.audit.verify import AuditVerifier
from broker.audit.witness import witness_verifiers
from broker.audit.writer import CheckpointPolicy, load_audit_log
from broker.config import Settings
from broker.errors import AuditError
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_identity, load_trust

__all__ = [
    "export_archive",
    "flush_stream",
    "local_checkpoints",
    "replay_and_verify",
    "trail_of",
    "verify_archive",
    "verify_records",
]

Progress = Callable[[int, int], None]


def local_checkpoints(settings: Settings) -> list[bytes]:
    """Return the newest checkpoint note each writer under this home kept outside Kafka."""
    return [p.read_bytes() for p in home.checkpoint_copies(settings)]


def _verifier(
    settings: Settings, *, keep_events: bool, witnesses: Sequence[str], quorum: int
) -> AuditVerifier:
    keys = load_audit_keys(settings)
    verifier = AuditVerifier(
        keys=keys,
        witnesses=witness_verifiers(keys, witnesses),
        quorum=quorum,
        certified_at=load_audit_key_times(settings),
    )
    verifier.keep_events = keep_events
    return verifier


def verify_records(
    settings: Settings,
    records: Iterable[RawRecord],
    *,
    external: Iterable[bytes] = (),
    vouched: Iterable[bytes] = (),
    keep_events: bool = False,
    witnesses: Sequence[str] = (),
    quorum: int = 0,
    now: dt.datetime | None = None,
) -> AuditVerifier:
    """Verify raw records with this federation's audit keys; return the finished verifier.

    Checkpoints in ``external`` must carry ``quorum`` cosignatures of ``witnesses``;
    ``vouched`` ones (an export's signed manifest) need only the log's signature.
    ``now`` is the reference time for freshness (default: the clock).
    """
    verifier = _verifier(settings, keep_events=keep_events, witnesses=witnesses, quorum=quorum)
    started = time.perf_counter()
    verifier.feed_all(records)
    verifier.finish(external=external, vouched=vouched, now=now)
    verifier.report.seconds = time.perf_counter() - started
    return verifier


async def replay_and_verify(
    settings: Settings,
    *,
    conn: KafkaConnection,
    topic: str | None = None,
    external: Iterable[bytes] | None = None,
    progress: Progress | None = None,
    keep_events: bool = False,
    witnesses: Sequence[str] = (),
    quorum: int = 0,
) -> AuditVerifier:
    """Replay the audit topic from offset 0 and verify it."""
    topic = topic or TopicLayout(prefix=settings.topic_prefix).audit
    notes = local_checkpoints(settings) if external is None else list(external)
    verifier = _verifier(settings, keep_events=keep_events, witnesses=witnesses, quorum=quorum)
    started = time.perf_counter()
    await read_topic(conn, topic, progress=progress, sink=verifier.feed)  # streamed
    verifier.finish(external=notes)
    verifier.report.seconds = time.perf_counter() - started
    return verifier


def verify_archive(
    settings: Settings,
    directory: Path,
    *,
    external: Iterable[bytes] = (),
    keep_events: bool = False,
    witnesses: Sequence[str] = (),
    quorum: int = 0,
) -> AuditVerifier:
    """Verify an export with no Kafka; archive problems become findings too.

    The manifest's checkpoints are signed by the exporter, not witnesses: only
    ``external`` notes are held to the witness quorum.
    """
    contents = read_archive(directory, trust=load_trust(settings))
    verifier = verify_records(
        settings,
        contents.records,
        external=external,
        vouched=contents.external,  # the signed manifest's checkpoints
        keep_events=keep_events,
        witnesses=witnesses,
        quorum=quorum,
        now=contents.exported_at,  # fresh as of the signed export, not as of today
    )
    for problem in contents.problems:
        verifier.report.findings.insert(
            0,
            Finding(
                kind=FindingKind.MODIFIED, stream=None, where="archive", seq=None, detail=problem
            ),
        )
    return verifier


async def export_archive(
    settings: Settings,
    directory: Path,
    *,
    conn: KafkaConnection,
    agency: str,
    passphrase: str | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Replay, verify, and write the archive signed by ``agency``; return the verification."""
    identity = load_identity(settings, agency=agency, passphrase=passphrase)
    topic = TopicLayout(prefix=settings.topic_prefix).audit
    records = await read_topic(conn, topic, progress=progress)
    verifier = verify_records(settings, records, external=local_checkpoints(settings))
    latest = {
        name: state.checkpoints[max(state.checkpoints)].note
        for name, state in verifier.streams.items()
        if state.checkpoints
    }
    write_archive(
        directory,
        records,
        exporter=identity,
        topic=topic,
        streams=verifier.report.streams,
        latest_notes=latest,
    )
    return verifier.report


async def flush_stream(settings: Settings, *, stream: str, conn: KafkaConnection) -> int:
    """Publish what ``stream``'s journal holds plus a checkpoint; return how many were pending."""
    log = load_audit_log(settings, stream=stream, conn=conn, policy=CheckpointPolicy())
    pending = len(log.journal.unpublished())
    try:
        await log.flush(force_checkpoint=True)
    finally:
        await log.close()
    if log.failures:
        raise AuditError("audit events could not be published", detail=stream)
    return pending


def trail_of(verifier: AuditVerifier, dossier: str) -> list[tuple[AuditEvent, bool]]:
    """Return ``dossier``'s events from a finished replay (``keep_events``) in time order.

    Each comes with whether it is verified: covered by a signed checkpoint whose root
    matched. An unverified event could have been appended by anyone who can write the
    audit topic (it is chained to a public leaf hash; no key is needed).
    """
    streams = verifier.report.streams
    events = sorted(
        (ev for ev, _ in verifier.events if dossier in (ev.envelope_id, ev.ref)),
        key=lambda ev: (ev.at, ev.stream, ev.seq),
    )
    return [(ev, ev.seq < int(streams.get(ev.stream, {}).get("anchored", 0))) for ev in events]
