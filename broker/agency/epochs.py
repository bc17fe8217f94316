"""Shred retired decryption keys once the inbox has drained past them (Kafka copies).

Every Kafka copy of an envelope stays on the inbox topic until topic retention, sealed to
the recipient's encryption key at the time. Rotating that key per epoch (``broker agency
rotate --usage ENCRYPT``, e.g. daily) and then destroying the retired private key makes
every copy wrapped to it undecryptable, for anyone, whoever later obtains the agency's
keys — recalled dossiers included. A retired key is destroyed only when nothing can still
need it (no loss):

* it was retired more than ``max_transit`` (+ the clock skew the audit allows) ago: the
  router refuses an envelope created longer ago than that (``stale``), so no envelope
  wrapped to the key can still enter the inbox;
* no record between the inbox group's committed offset and the end of any inbox partition
  is wrapped to it (read from the signed cleartext headers: no decryption).

Bound: a Kafka copy becomes undecryptable at most ``epoch + max_transit + skew`` plus the
agency's consumer lag after it was written. The key file is overwritten with zeros, synced,
then unlinked, and the destruction audited (``KEY_DESTROYED``, ``ref`` the key id).

Example::

    $ broker agency rotate DE-BKA --usage encrypt           # each epoch (cron)
    $ broker shred-keys --as DE-BKA                         # then: retired and drained keys go
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from aiokafka import TopicPartition

from broker import home
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.rules import CLOCK_SKEW
from broker.audit.writer import AuditSink
from broker.codec import SchemaStore
from broker.config import Settings
from broker.envelope.format import ENVELOPE_SCHEMA
from broker.errors import SchemaError, TransportError
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust import load_trust

__all__ = ["key_destroyed_event", "shred_retired_keys", "unread_key_ids"]

log = logging.getLogger(__name__)


async def unread_key_ids(conn: KafkaConnection, layout: TopicLayout, agency: str) -> set[str]:
    """Return the key ids of ``agency`` that unread records of its inbox are wrapped to."""
    topic = layout.inbox(agency)
    probe = conn.consumer(group_id=layout.consumer_group(agency), client_id=f"{agency}-shred")
    reader = conn.consumer(group_id=None, client_id=f"{agency}-shred-read")
    needed: set[str] = set()
    with translate_kafka_errors("read the unread part of the inbox"):
        await probe.start()
        await reader.start()
        try:
            ids = reader.partitions_for_topic(topic)
            if not ids:
                await reader._client.force_metadata_update()
                ids = reader.partitions_for_topic(topic)
            if not ids:  # fail closed: what cannot be read might need every key
                raise TransportError("inbox partitions unknown: no key shredded", detail=topic)
            parts = [TopicPartition(topic, p) for p in sorted(ids)]
            committed = {tp: (await probe.committed(tp)) or 0 for tp in parts}
            ends = await reader.end_offsets(parts)
            todo = [tp for tp in parts if committed[tp] < ends[tp]]
            if not todo:
                return needed
            reader.assign(todo)
            for tp in todo:
                reader.seek(tp, committed[tp])
            left = set(todo)
            while left:
                batch = await reader.getmany(timeout_ms=1000)
                for tp, records in batch.items():
                    for record in records:
                        needed |= _key_ids(record.value or b"", agency)
                        if record.offset + 1 >= ends[tp]:
                            left.discard(tp)
                if not batch:
                    left = {tp for tp in left if await reader.position(tp) < ends[tp]}
        finally:
            await reader.stop()
            await probe.stop()
    return needed


def _key_ids(value: bytes, agency: str) -> set[str]:
    """The key ids of ``agency`` an envelope's cleartext key wraps name (none if unreadable)."""
    try:
        outer = SchemaStore.default().decode(ENVELOPE_SCHEMA, value)
        return {str(w["key_id"]) for w in outer["wraps"] if w["agency"] == agency}
    except (SchemaError, KeyError, TypeError):
        return set()  # not an envelope (a streamed part waits on its manifest's key)


async def shred_retired_keys(
    settings: Settings,
    *,
    agency: str,
    conn: KafkaConnection,
    now: dt.datetime | None = None,
    audit: AuditSink | None = None,
) -> list[str]:
    """Destroy ``agency``'s retired decryption keys nothing unread needs; return their ids.

    Each destruction is a ``KEY_DESTROYED`` event in ``audit`` (the agency's own stream),
    journaled as soon as the key file is gone.
    """
    now = now or dt.datetime.now(dt.UTC)
    trust = load_trust(settings)
    profile = trust.require_agency(agency)
    margin = settings.max_transit + CLOCK_SKEW
    retired: dict[str, dt.datetime] = {}
    for cert in profile.certificates:
        rev = trust.revocation(agency, cert.key_id)
        if cert.usage == "ENCRYPT" and rev is not None and rev.revoked_at + margin < now:
            retired[cert.key_id] = rev.revoked_at
    if not retired:
        return []
    needed = await unread_key_ids(conn, TopicLayout(prefix=settings.topic_prefix), agency)
    destroyed = []
    for key_id, retired_at in retired.items():
        path = home.agency_key(settings, agency, key_id)
        if key_id in needed or not path.exists():
            continue
        _destroy(path)
        if audit is not None:
            audit.record(key_destroyed_event(agency=agency, key_id=key_id, retired_at=retired_at))
        log.warning("%s: decryption key %s destroyed (retired, inbox drained)", agency, key_id)
        destroyed.append(key_id)
    return destroyed


def key_destroyed_event(*, agency: str, key_id: str, retired_at: dt.datetime) -> AuditEvent:
    """``agency`` destroyed its retired decryption key ``key_id`` (epoch over, inbox drained).

    >>> at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    >>> key_destroyed_event(agency="DE-BKA", key_id="enc-1", retired_at=at).reason
    'retired 2026-12-01T00:00:00Z; inbox drained'
    """
    return AuditEvent.new(
        AuditKind.KEY_DESTROYED,
        actor=agency,
        parties=[agency],
        ref=key_id,
        outcome="destroyed",
        reason=f"retired {retired_at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}; inbox drained",
    )


def _destroy(path: Path) -> None:
    """Overwrite a key file with zeros, sync it, unlink it."""
    size = path.stat().st_size
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, bytes(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
