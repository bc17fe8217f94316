"""Publishing a dossier of any size: parts first, then one signed manifest.

:meth:`StreamPublisher.publish` reads the media references (any iterable, e.g. the
JSON Lines of ``broker media hash`` read lazily) and attachment files as streams
and never holds more than one part of plaintext plus a bounded window of records
awaiting Kafka's acknowledgement. Every record is keyed by the envelope id, so the
parts and the manifest share one partition of the outbox and keep their order
(docs/envelope-format.md, "Streamed dossiers").

:func:`plan` keeps today's single-record path for small dossiers: it looks ahead
at most :data:`SINGLE_RECORD_BYTES` of references and returns the whole dossier
when it fits in one envelope.

Example::

    result = await node.publish_large(dossier, media=read_references(path), to=["DE-BKA"])
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import mimetypes
import secrets
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from broker.agency.publisher import Publisher
from broker.agency.results import PublishResult
from broker.agency.store import AgencyStore, SentRecord
from broker.audit.events import AuditEvent, AuditKind
from broker.audit.writer import AuditSink
from broker.envelope import MAX_ENVELOPE_BYTES, Verifier, seal
from broker.envelope.stream import DEFAULT_MAX_DOSSIER_BYTES, PART_SIZE, PartSealer
from broker.errors import ConfigError, DossierTooLargeError, OversizedEnvelopeError
from broker.models import Dossier, MediaReference
from broker.models.dossier import MAX_ATTACHMENT, Attachment
from broker.models.streamed import Manifest, Section, encode_media_item
from broker.topics import TopicLayout
from broker.transport import translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["SINGLE_RECORD_BYTES", "StreamPublisher", "plan"]

#: A dossier whose streamed content is at most this large goes as one envelope.
SINGLE_RECORD_BYTES = 512 * 1024
#: Part records handed to the producer and not yet acknowledged, at most.
_WINDOW = 32
_READ = 1024 * 1024


def plan(
    dossier: Dossier, media: Iterable[MediaReference], attachments: Sequence[Path]
) -> tuple[Dossier | None, Dossier, Iterator[MediaReference]]:
    """Return ``(whole, _, _)`` if it fits one record, else ``(None, small part, references)``.

    Reads at most :data:`SINGLE_RECORD_BYTES` of references ahead. For the streamed
    path the small part is ``dossier`` without its media list, and the iterator yields
    every reference: the dossier's own, those read ahead, then the rest of ``media``.
    """
    it = iter(media)
    bare = dossier.model_copy(update={"media": []})
    ahead: list[MediaReference] = []
    size = len(dossier.to_bytes())
    for path in attachments:
        try:
            size += path.stat().st_size
        except OSError as exc:
            raise ConfigError(f"cannot read {path}", detail=str(exc)) from exc
    small = all(p.stat().st_size <= MAX_ATTACHMENT for p in attachments)
    for ref in it:
        ahead.append(ref)
        size += len(encode_media_item(ref))
        if size > SINGLE_RECORD_BYTES:
            return None, bare, itertools.chain(dossier.media, ahead, it)
    if not small or size > SINGLE_RECORD_BYTES:
        return None, bare, itertools.chain(dossier.media, ahead)
    whole = dossier.model_copy(
        update={
            "media": [*dossier.media, *ahead],
            "attachments": [*dossier.attachments, *(_attachment(p) for p in attachments)],
        }
    )
    return Dossier.model_validate(whole.model_dump()), bare, iter(())


def _attachment(path: Path) -> Attachment:
    return Attachment(name=path.name, media_type=_media_type(path), content=path.read_bytes())


def _media_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class StreamPublisher:
    """Seal and produce one streamed dossier (see the module docstring)."""

    def __init__(
        self,
        *,
        identity: AgencyIdentity,
        trust: TrustStore,
        publisher: Publisher,
        layout: TopicLayout,
        store: AgencyStore,
        audit: AuditSink,
        max_dossier_bytes: int = DEFAULT_MAX_DOSSIER_BYTES,
        max_record_bytes: int = MAX_ENVELOPE_BYTES,
    ) -> None:
        self._identity = identity
        self._trust = trust
        self._publisher = publisher
        self._layout = layout
        self._store = store
        self._audit = audit
        self.max_dossier_bytes = max_dossier_bytes
        self.max_record_bytes = max_record_bytes
        self._verifier = Verifier(trust=trust)

    async def publish(
        self,
        dossier: Dossier,
        *,
        media: Iterable[MediaReference],
        attachments: Sequence[Path] = (),
        to: Sequence[str],
        suite: str = "classic",
    ) -> PublishResult:
        """Stream ``media`` and ``attachments`` as parts, then seal the manifest; await acks."""
        recipients = sorted(to)
        for agency in recipients:
            self._trust.require_agency(agency)  # before spending a sequence number
        await self._publisher.start()
        sequence = self._store.next_sequence()
        envelope_id = secrets.token_hex(16)
        content_key = secrets.token_bytes(32)
        sealer = PartSealer(
            content_key=content_key,
            envelope_id=envelope_id,
            sender=self._identity.agency,
            recipients=recipients,
        )
        topic = self._layout.outbox(self._identity.agency)
        key = envelope_id.encode()
        window: collections.deque[Any] = collections.deque()

        async def send(records: Iterable[bytes]) -> None:
            for record in records:
                if len(record) > self.max_record_bytes:  # by construction never; checked anyway
                    raise OversizedEnvelopeError(
                        "part too large", detail=f"{len(record)} > {self.max_record_bytes}"
                    )
                window.append(await self._publisher.produce(topic, value=record, key=key))
                if len(window) > _WINDOW:
                    with translate_kafka_errors("publish part"):
                        await window.popleft()

        def grow(n: int) -> None:
            if sealer.total + n > self.max_dossier_bytes:
                raise DossierTooLargeError(
                    f"dossier larger than the maximum dossier size of {self.max_dossier_bytes} "
                    "bytes (max_dossier_bytes, BROKER_MAX_DOSSIER_BYTES)"
                )

        sections = []
        count = 0
        before = sealer.total
        for ref in media:
            item = encode_media_item(ref)
            grow(len(item))
            count += 1
            await send(sealer.write(item))
        if count:
            sections.append(
                Section(
                    kind="MEDIA", name="", media_type="", items=count, bytes=sealer.total - before
                )
            )
        for path in attachments:
            before = sealer.total
            try:
                with path.open("rb") as f:
                    while chunk := f.read(_READ):
                        grow(len(chunk))
                        await send(sealer.write(chunk))
            except OSError as exc:
                raise ConfigError(f"cannot read {path}", detail=str(exc)) from exc
            sections.append(
                Section(
                    kind="ATTACHMENT",
                    name=path.name,
                    media_type=_media_type(path),
                    items=1,
                    bytes=sealer.total - before,
                )
            )
        await send(sealer.close())
        with translate_kafka_errors("publish part"):
            while window:
                await window.popleft()
        manifest = Manifest(
            dossier=dossier.to_bytes(),
            sections=sections,
            part_count=sealer.count,
            part_size=PART_SIZE,
            total_bytes=sealer.total,
            root=sealer.root,
        )
        codes = dossier.codes.to_avro()
        data = seal(
            manifest.to_bytes(),
            kind="DOSSIER",
            codes=codes,
            sender=self._identity,
            recipients=recipients,
            trust=self._trust,
            sequence=sequence,
            suite=suite,
            envelope_id=envelope_id,
            content_key=content_key,
        )
        self._verifier.verify(data)
        if len(data) > self.max_record_bytes:
            raise OversizedEnvelopeError(
                "manifest too large", detail=f"{len(data)} bytes > {self.max_record_bytes}"
            )
        with translate_kafka_errors("publish manifest"):
            meta = await (await self._publisher.produce(topic, value=data, key=key))
        digest = hashlib.sha256(data).digest()
        self._store.record_sent_many(
            [
                SentRecord(
                    envelope_id=envelope_id,
                    kind="DOSSIER",
                    recipients=recipients,
                    sequence=sequence,
                    envelope_sha256=digest.hex(),
                )
            ]
        )
        self._audit.record(
            AuditEvent.new(
                AuditKind.PUBLISH,
                actor=self._identity.agency,
                envelope_id=envelope_id,
                envelope_sha256=digest,
                parties=[self._identity.agency, *recipients],
                codes=codes,
                message_kind="DOSSIER",
                ref=f"parts:{sealer.count}",
            )
        )
        return PublishResult(
            envelope_id=envelope_id,
            sequence=sequence,
            topic=topic,
            partition=meta.partition,
            offset=meta.offset,
        )
