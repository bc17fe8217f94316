"""Hostile part streams: streamed dossiers built by hand, then broken one way each.

:func:`build_stream` seals a streamed dossier exactly as the publisher does
(:mod:`broker.envelope.stream` parts, then a manifest sealed under the same key) but
returns it as a list, so that :func:`hostile_streams` can drop, repeat, swap, cut,
alter or borrow parts. Each hostile stream names the record whose dead letter proves
the refusal (the manifest, or the duplicated part) and the reason it must carry.
Used by the ``hostile-parts`` chaos scenario and the network tests.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> s = build_stream(fed.identity("ES-PN"), fed.trust, to=["DE-BKA"], n_refs=2000)
    >>> len(s.parts), sorted({h.expected for h in hostile_streams(
    ...     fed.identity("ES-PN"), fed.trust, to=["DE-BKA"])})
    (2, ['duplicate-part', 'incomplete', 'part-mismatch'])
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace

from broker.envelope import seal
from broker.envelope.stream import PART_SIZE, Part, PartSealer
from broker.models import MediaReference
from broker.models.streamed import Manifest, Section, encode_media_item
from broker.synthetic import example_dossier
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["HostileStream", "Stream", "altered", "build_stream", "hostile_streams", "refs"]


def refs(n: int, *, seed: int = 0) -> list[MediaReference]:
    """``n`` synthetic media references (hashes of nothing real)."""
    return [
        MediaReference(
            sha256=f"{seed:08x}{i:056x}",
            md5=f"{i:032x}",
            perceptual_hash=f"{i:064x}",
            perceptual_algorithm="PDQ",
            perceptual_quality=90,
            category="UNCLASSIFIED",
            device_ref="D1",
        )
        for i in range(n)
    ]


@dataclass
class Stream:
    """One streamed dossier: its id, part records in order, and the manifest envelope."""

    envelope_id: str
    parts: list[bytes]
    manifest: bytes

    def records(self, parts: list[bytes] | None = None) -> list[bytes]:
        """The records to produce, in order (``parts`` instead of the real ones, if given)."""
        return [*(self.parts if parts is None else parts), self.manifest]


def build_stream(
    identity: AgencyIdentity,
    trust: TrustStore,
    *,
    to: list[str],
    n_refs: int,
    seed: int = 0,
    sequence: int = 1,
) -> Stream:
    """Seal ``n_refs`` references as a streamed dossier from ``identity`` to ``to``."""
    envelope_id = secrets.token_hex(16)
    key = secrets.token_bytes(32)
    sealer = PartSealer(
        content_key=key, envelope_id=envelope_id, sender=identity.agency, recipients=to
    )
    parts: list[bytes] = []
    for ref in refs(n_refs, seed=seed):
        parts.extend(sealer.write(encode_media_item(ref)))
    total = sealer.total
    parts.extend(sealer.close())
    dossier = example_dossier(seed)
    manifest = Manifest(
        dossier=dossier.to_bytes(),
        sections=[Section(kind="MEDIA", name="", media_type="", items=n_refs, bytes=total)],
        part_count=sealer.count,
        part_size=PART_SIZE,
        total_bytes=sealer.total,
        root=sealer.root,
    )
    data = seal(
        manifest.to_bytes(),
        kind="DOSSIER",
        codes=dossier.codes.to_avro(),
        sender=identity,
        recipients=to,
        trust=trust,
        sequence=sequence,
        envelope_id=envelope_id,
        content_key=key,
    )
    return Stream(envelope_id=envelope_id, parts=parts, manifest=data)


def altered(record: bytes, **changes: object) -> bytes:
    """Return the part record with fields changed (re-encoded canonically)."""
    part = Part.from_bytes(record, max_bytes=1 << 20)
    return replace(part, **changes).to_bytes()  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class HostileStream:
    """A broken stream: the records to produce (in order, under ``key``), and the proof."""

    kind: str
    key: str
    records: list[bytes]
    #: The record whose dead letter shows the refusal, and the reason it must give.
    rejected: bytes
    expected: str
    #: The dossier is intact (only an extra record is refused): it must be delivered once.
    delivered: bool = False


def hostile_streams(
    identity: AgencyIdentity, trust: TrustStore, *, to: list[str], n_refs: int = 4000
) -> Iterator[HostileStream]:
    """Yield one hostile stream of each kind (each built from a fresh valid dossier)."""

    def fresh(seed: int) -> Stream:
        return build_stream(identity, trust, to=to, n_refs=n_refs, seed=seed, sequence=seed + 1)

    s = fresh(1)
    yield HostileStream(
        kind="missing-part",
        key=s.envelope_id,
        records=s.records([s.parts[0], *s.parts[2:]]),
        rejected=s.manifest,
        expected="incomplete",
    )
    s = fresh(2)
    yield HostileStream(
        kind="duplicated-part",
        key=s.envelope_id,
        records=s.records(
            [*s.parts[:2], altered(s.parts[1], ciphertext=b"\x00" * 16 + b"x"), *s.parts[2:]]
        ),
        rejected=altered(s.parts[1], ciphertext=b"\x00" * 16 + b"x"),
        expected="duplicate-part",
        delivered=True,
    )
    s = fresh(3)
    c1, c2 = (Part.from_bytes(p, max_bytes=1 << 20).ciphertext for p in s.parts[1:3])
    yield HostileStream(
        kind="reordered-parts",
        key=s.envelope_id,
        records=s.records(
            [
                s.parts[0],
                altered(s.parts[1], ciphertext=c2),
                altered(s.parts[2], ciphertext=c1),
                *s.parts[3:],
            ]
        ),
        rejected=s.manifest,
        expected="part-mismatch",
    )
    s = fresh(4)
    yield HostileStream(
        kind="truncated-stream",
        key=s.envelope_id,
        records=s.records(s.parts[:-1]),
        rejected=s.manifest,
        expected="incomplete",
    )
    s = fresh(5)
    c = bytearray(Part.from_bytes(s.parts[1], max_bytes=1 << 20).ciphertext)
    c[7] ^= 0x40
    yield HostileStream(
        kind="substituted-part",
        key=s.envelope_id,
        records=s.records([s.parts[0], altered(s.parts[1], ciphertext=bytes(c)), *s.parts[2:]]),
        rejected=s.manifest,
        expected="part-mismatch",
    )
    s, other = fresh(6), fresh(7)
    foreign = altered(other.parts[1], envelope_id=s.envelope_id)
    yield HostileStream(
        kind="foreign-part",
        key=s.envelope_id,
        records=s.records([s.parts[0], foreign, *s.parts[2:]]),
        rejected=s.manifest,
        expected="part-mismatch",
    )
