"""The public registry over the compacted ``<prefix>.federation`` topic.

The administrator publishes one record per public file, keyed by its path under
``agencies/`` (``ES-PN/revocations/<key id>.rev``, ``audit-keys/router.cert``),
plus the trust anchor (key ``federation-root.json``) and, last, the root-signed
manifest (key ``registry.manifest``). Compaction keeps the newest value of each
key, and a reader takes the newest value of each key, so what it sees does not
depend on whether compaction has run yet.

A member rebuilds its ``agencies/`` from the topic with :func:`sync_registry`.
It trusts nothing on the topic but what its own anchor verifies: the manifest
must be signed by the root it already holds and be no older than the newest it
has seen (:mod:`broker.trust.manifest`); every listed file must be on the topic
with the listed SHA-256; nothing is written until all of that holds. The Kafka
operator can therefore withhold the registry (the member keeps what it has and
says why) but cannot remove a revocation, roll the registry back or add a key.

Example (needs Kafka)::

    >>> async def share(settings, admin_conn, member_conn, member_settings, layout):
    ...     await publish_registry(settings, admin_conn, layout=layout)
    ...     return await sync_registry(member_settings, member_conn, layout=layout)
"""

from __future__ import annotations

import asyncio
import fnmatch
from pathlib import PurePosixPath

from aiokafka import TopicPartition

from broker import home
from broker.config import Settings
from broker.errors import RegistryManifestError, TransportError
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust.certificates import RegistryManifest
from broker.trust.lock import registry_lock
from broker.trust.manifest import (
    REGISTRY_PATTERNS,
    check_registry,
    load_registry,
    open_manifest,
    read_root_public,
    remember_manifest,
)

__all__ = ["ANCHOR_KEY", "MANIFEST_KEY", "publish_registry", "read_topic", "sync_registry"]

#: Record key of the root-signed manifest.
MANIFEST_KEY = "registry.manifest"
#: Record key of the trust anchor (informative: a member keeps its own, obtained out of band).
ANCHOR_KEY = "federation-root.json"
#: Empty polls in a row after which a topic that has not reached its end offset is an error.
_MAX_IDLE_POLLS = 30


async def publish_registry(
    settings: Settings, conn: KafkaConnection, *, layout: TopicLayout
) -> int:
    """Publish this home's verified registry to the federation topic; return records written."""
    registry = load_registry(settings)  # only a registry that checks out is ever published
    records = [(path, registry.files[path]) for path in sorted(registry.files)]
    records.append((ANCHOR_KEY, home.root_public(settings).read_bytes()))
    records.append((MANIFEST_KEY, registry.manifest_bytes))  # last: its files precede it
    producer = conn.producer()
    with translate_kafka_errors("publish the federation registry"):
        await producer.start()
        try:
            futures = [
                await producer.send(layout.federation, key=key.encode(), value=value)
                for key, value in records
            ]
            await asyncio.gather(*futures)  # every write acknowledged, or an error
        finally:
            await producer.stop()
    return len(records)


async def read_topic(conn: KafkaConnection, *, layout: TopicLayout) -> dict[str, bytes | None]:
    """Return the newest value of every key on the federation topic (None: a tombstone)."""
    consumer = conn.consumer(group_id=None)
    partition = TopicPartition(layout.federation, 0)
    latest: dict[str, bytes | None] = {}
    with translate_kafka_errors("read the federation topic"):
        await consumer.start()
        try:
            if layout.federation not in await consumer.topics():
                raise TransportError(
                    "no federation topic", detail=f"{layout.federation} does not exist (yet)"
                )
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            idle = 0
            while await consumer.position(partition) < end:
                batch = await consumer.getmany(partition, timeout_ms=1000)
                idle = 0 if batch else idle + 1
                if idle > _MAX_IDLE_POLLS:
                    raise TransportError(
                        "federation topic did not drain", detail=f"stuck before offset {end}"
                    )
                for record in batch.get(partition, []):
                    if record.key is not None:
                        latest[record.key.decode("utf-8", "replace")] = record.value
        finally:
            await consumer.stop()
    return latest


def _safe_path(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        not pure.is_absolute()
        and ".." not in pure.parts
        and any(fnmatch.fnmatchcase(path, pattern) for pattern in REGISTRY_PATTERNS)
    )


def _write_atomic(path: str, data: bytes, settings: Settings) -> None:
    target = settings.agencies_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


async def sync_registry(
    settings: Settings, conn: KafkaConnection, *, layout: TopicLayout
) -> RegistryManifest:
    """Rebuild this home's public ``agencies/`` from the topic, verified; return the manifest.

    Refuses (RegistryManifestError / RegistryRollbackError) and writes nothing if the
    topic's manifest does not verify against this home's anchor, is older than the
    newest seen here, or a listed file is missing or altered on the topic.
    """
    root = read_root_public(settings)  # the anchor this home already trusts
    records = await read_topic(conn, layout=layout)
    data = records.get(MANIFEST_KEY)
    if data is None:
        raise RegistryManifestError(
            "no registry manifest on the federation topic", detail=layout.federation
        )
    manifest = open_manifest(data, root=root)
    remember_manifest(settings, manifest, data, record=False)  # refuse a rollback first
    unsafe = sorted(p for p in manifest.files if not _safe_path(p))
    if unsafe:
        raise RegistryManifestError("registry manifest names unsafe paths", detail=str(unsafe))
    files = {p: v for p in manifest.files if (v := records.get(p)) is not None}
    try:
        check_registry(manifest, files)
    except RegistryManifestError as exc:
        exc.detail = f"on {layout.federation}: {exc.detail}"
        raise
    with registry_lock(settings, write=True):  # readers see the old registry or the new
        for path in sorted(files):
            current = settings.agencies_dir / path
            if not current.is_file() or current.read_bytes() != files[path]:
                _write_atomic(path, files[path], settings)
        _write_atomic(home.registry_manifest(settings).name, data, settings)
        # What is on disk now must check out as a whole (an unlisted local file is refused).
        return load_registry(settings).manifest
