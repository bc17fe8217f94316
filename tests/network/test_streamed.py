"""Streamed dossiers over the real broker: any size, exactly once, and every hostile
part stream (missing, duplicated, reordered, truncated, substituted, foreign) refused
for its own reason, with a REJECTED receipt back to the sender."""

from __future__ import annotations

from typing import Any

import pytest

from broker.agency import AgencyNode, Delivery
from broker.agency.reassembly import Reassembly
from broker.agency.streamed import StreamedDossier
from broker.deadletter import DeadLetter
from broker.envelope.stream import PART_SIZE
from broker.errors import DossierTooLargeError
from broker.synthetic import example_dossier
from tests.kafka_helpers import read_all
from tests.network.conftest import Network
from tests.network.streams import Stream, altered, build_stream, ciphertext, inject, refs


async def _receive(
    network: Network, agency: str = "DE-BKA", *, node: AgencyNode | None = None, **kw: Any
) -> tuple[list[tuple[str, int, list[str]]], dict[str, int]]:
    """Route, then consume ``agency``'s inbox; return (id, refs, first shas) and reasons."""
    await network.router().run(until_idle=5.0)
    got: list[tuple[str, int, list[str]]] = []

    async def handler(delivery: Delivery) -> None:
        d = delivery.dossier
        if isinstance(d, StreamedDossier):
            shas = []
            count = 0
            for ref in d.media_stream():
                if count < 3:
                    shas.append(ref.sha256)
                count += 1
            got.append((delivery.envelope_id, count, shas))
        elif d is not None:
            got.append((delivery.envelope_id, len(d.media), [m.sha256 for m in d.media[:3]]))

    async with node or network.node(agency) as n:
        stats = await n.consume(handler=handler, until_idle=5.0, **kw)
    return got, stats.reasons


async def _stream(network: Network, n_refs: int = 3000, seed: int = 0) -> Stream:
    node = network.node("ES-PN")
    try:
        return build_stream(node.identity, node.trust, to=["DE-BKA"], n_refs=n_refs, seed=seed)
    finally:
        node.store.close()


async def _inject(network: Network, stream: Stream, parts: list[bytes]) -> None:
    await inject(
        network.conn,
        network.layout.outbox("ES-PN"),
        [*parts, stream.manifest],
        key=stream.envelope_id,
    )


async def _receipts(network: Network) -> dict[str, str]:
    await network.router().run(until_idle=5.0)
    async with network.node("ES-PN") as es:
        await es.consume(until_idle=5.0)
        rows = es.store._db.execute("SELECT envelope_id, status, reason FROM receipts")
        return {r[0]: f"{r[1]}:{r[2]}" for r in rows}


@pytest.mark.large  # ~70 s; the default suite streams the 40,000-reference dossier below
async def test_streamed_dossier_of_100000_references_arrives_once_complete_and_verified(
    network: Network,
) -> None:
    media = refs(100_000)
    dossier = example_dossier(3)
    async with network.node("ES-PN") as es:
        sent = await es.publish_large(dossier, media=iter(media), to=["DE-BKA"])
    # The dossier's own references travel first in the stream, then the 100,000.
    every = [*dossier.media, *media]
    parts = await read_all(network.conn, network.layout.outbox("ES-PN"), expect=100)
    assert len(parts) > 50  # streamed, not one record
    got, reasons = await _receive(network)
    assert reasons == {}
    assert got == [(sent.envelope_id, len(every), [m.sha256 for m in every[:3]])]
    assert (await _receive(network))[0] == []  # exactly once
    receipts = await _receipts(network)
    assert receipts[sent.envelope_id] == "DELIVERED:None"


async def test_small_dossier_with_media_keeps_the_single_record_path(network: Network) -> None:
    async with network.node("ES-PN") as es:
        sent = await es.publish_large(example_dossier(3), media=iter(refs(50)), to=["DE-BKA"])
    assert len(await read_all(network.conn, network.layout.outbox("ES-PN"), expect=1)) == 1
    got, _ = await _receive(network)
    assert [(i, n) for i, n, _ in got] == [(sent.envelope_id, 50 + 1)]  # + example's own


async def test_streamed_attachment_arrives_byte_for_byte(network: Network, tmp_path: Any) -> None:
    blob = tmp_path / "image.bin"
    blob.write_bytes(bytes(range(256)) * (3 * PART_SIZE // 256) + b"tail")
    async with network.node("ES-PN") as es:
        await es.publish_large(example_dossier(4), attachments=[blob], to=["DE-BKA"])
    await network.router().run(until_idle=5.0)
    seen: list[tuple[str, int, bool]] = []

    async def handler(delivery: Delivery) -> None:
        assert isinstance(delivery.dossier, StreamedDossier)
        for section, chunks in delivery.dossier.attachment_streams():
            data = b"".join(chunks)
            seen.append((section.name, len(data), data == blob.read_bytes()))

    async with network.node("DE-BKA") as de:
        await de.consume(handler=handler, until_idle=2.0)
    assert seen == [("image.bin", blob.stat().st_size, True)]


async def test_missing_part_is_rejected_as_incomplete(network: Network) -> None:
    stream = await _stream(network)
    await _inject(network, stream, stream.parts[:1] + stream.parts[2:])
    got, reasons = await _receive(network)
    assert (got, reasons) == ([], {"incomplete": 1})
    assert (await _receipts(network))[stream.envelope_id] == "REJECTED:incomplete"


async def test_duplicated_part_is_dead_lettered_and_the_dossier_delivered_once(
    network: Network,
) -> None:
    stream = await _stream(network)
    await _inject(network, stream, [*stream.parts[:2], stream.parts[1], *stream.parts[2:]])
    got, reasons = await _receive(network)
    assert reasons == {"duplicate-part": 1}
    assert [(i, n) for i, n, _ in got] == [(stream.envelope_id, 3000)]


async def test_reordered_part_content_is_rejected(network: Network) -> None:
    stream = await _stream(network)
    p = stream.parts
    swapped = [
        p[0],
        altered(p[1], ciphertext=ciphertext(p[2])),
        altered(p[2], ciphertext=ciphertext(p[1])),
        *p[3:],
    ]
    await _inject(network, stream, swapped)
    got, reasons = await _receive(network)
    assert (got, reasons) == ([], {"part-mismatch": 1})
    assert (await _receipts(network))[stream.envelope_id] == "REJECTED:part-mismatch"


async def test_parts_arriving_out_of_order_still_assemble(network: Network) -> None:
    stream = await _stream(network)
    p = stream.parts
    await _inject(network, stream, [p[0], p[2], p[1], *p[3:]])
    got, reasons = await _receive(network)
    assert reasons == {}
    assert [(i, n) for i, n, _ in got] == [(stream.envelope_id, 3000)]


async def test_truncated_stream_is_rejected(network: Network) -> None:
    stream = await _stream(network)
    await _inject(network, stream, stream.parts[:-1])
    got, reasons = await _receive(network)
    assert (got, reasons) == ([], {"incomplete": 1})


async def test_truncated_stream_with_a_forged_final_flag_is_rejected(network: Network) -> None:
    stream = await _stream(network)
    forged = [*stream.parts[:-2], altered(stream.parts[-2], final=True)]
    await _inject(network, stream, forged)
    got, reasons = await _receive(network)
    assert got == []
    assert reasons in ({"incomplete": 1}, {"part-mismatch": 1})


async def test_substituted_part_is_rejected(network: Network) -> None:
    stream = await _stream(network)
    ct = bytearray(ciphertext(stream.parts[1]))
    ct[100] ^= 1
    await _inject(
        network,
        stream,
        [stream.parts[0], altered(stream.parts[1], ciphertext=bytes(ct)), *stream.parts[2:]],
    )
    got, reasons = await _receive(network)
    assert (got, reasons) == ([], {"part-mismatch": 1})


async def test_part_from_another_dossier_is_rejected(network: Network) -> None:
    stream = await _stream(network, seed=1)
    other = await _stream(network, seed=2)
    foreign = altered(other.parts[1], envelope_id=stream.envelope_id)
    await _inject(network, stream, [stream.parts[0], foreign, *stream.parts[2:]])
    got, reasons = await _receive(network)
    assert (got, reasons) == ([], {"part-mismatch": 1})


async def test_part_in_another_agencys_outbox_is_refused_by_the_router(network: Network) -> None:
    stream = await _stream(network)
    await inject(network.conn, network.layout.outbox("PT-PJ"), stream.parts[:1], key="k")
    stats = await network.router().run(until_idle=5.0)
    assert (stats.routed, stats.rejected) == (0, 1)
    letters = await read_all(network.conn, network.layout.rejected("PT-PJ"), expect=1)
    assert DeadLetter.from_bytes(letters[0]).reason == "bad-signature"


async def test_parts_without_manifest_are_given_up_as_incomplete_after_the_timeout(
    network: Network,
) -> None:
    stream = await _stream(network)
    await inject(network.conn, network.layout.outbox("ES-PN"), stream.parts, key=stream.envelope_id)
    node = AgencyNode.load(network.settings, agency="DE-BKA", conn=network.conn)
    node._inbox.streams.timeout = 0.5
    got, reasons = await _receive(network, node=node)
    assert (got, reasons) == ([], {"incomplete": 1})
    letters = await read_all(network.conn, network.layout.rejected("DE-BKA"), expect=1)
    letter = DeadLetter.from_bytes(letters[-1])
    assert (letter.reason, letter.envelope_id) == ("incomplete", stream.envelope_id)
    assert (await _receipts(network))[stream.envelope_id] == "REJECTED:incomplete"


async def test_dossier_over_the_size_limit_is_refused_by_sender_and_receiver(
    network: Network,
) -> None:
    es = AgencyNode.load(network.settings, agency="ES-PN", conn=network.conn)
    es._streamer.max_dossier_bytes = PART_SIZE
    async with es:
        with pytest.raises(DossierTooLargeError, match=f"{PART_SIZE} bytes"):
            await es.publish_large(example_dossier(1), media=iter(refs(5000)), to=["DE-BKA"])
    stream = await _stream(network)
    await _inject(network, stream, stream.parts)
    de = AgencyNode.load(network.settings, agency="DE-BKA", conn=network.conn)
    de._inbox.streams.max_dossier_bytes = PART_SIZE
    got, reasons = await _receive(network, node=de)
    assert got == []
    assert reasons.get("dossier-too-large", 0) >= 1


async def test_dossier_carrying_40000_references_inline_is_streamed(network: Network) -> None:
    """The case of issue 15: a 7 MB dossier that could not be published at all before."""
    media = refs(40_000)
    big = example_dossier(8).model_copy(update={"media": media})
    async with network.node("ES-PN") as es:
        sent = await es.publish_large(big, to=["DE-BKA"])
    got, reasons = await _receive(network)
    assert reasons == {}
    assert got == [(sent.envelope_id, 40_000, [m.sha256 for m in media[:3]])]


async def test_parts_stored_before_a_restart_complete_the_dossier_after_it(
    network: Network,
) -> None:
    stream = await _stream(network)
    outbox = network.layout.outbox("ES-PN")
    await inject(network.conn, outbox, stream.parts, key=stream.envelope_id)
    got, reasons = await _receive(network)  # the parts are stored, the offsets committed
    assert (got, reasons) == ([], {})
    await inject(network.conn, outbox, [stream.manifest], key=stream.envelope_id)
    got, reasons = await _receive(network)  # a new process: only the manifest is consumed
    assert reasons == {}
    assert [(i, n) for i, n, _ in got] == [(stream.envelope_id, 3000)]


class _Crash(BaseException):
    """The process dying at a chosen point (not an Error: no verdict on the delivery)."""


def _stored_part_bytes(node: AgencyNode) -> int:
    db = node._inbox.streams._db
    return int(db.execute("SELECT COALESCE(SUM(LENGTH(record)), 0) FROM parts").fetchone()[0])


@pytest.mark.parametrize("crash", ["in-the-handler", "before-the-parts-are-deleted"])
async def test_crash_around_the_handler_delivers_once_and_then_deletes_the_parts(
    network: Network, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    stream = await _stream(network)
    await _inject(network, stream, stream.parts)
    await network.router().run(until_idle=5.0)
    handed: list[int] = []

    async def handler(delivery: Delivery) -> None:
        assert isinstance(delivery.dossier, StreamedDossier)
        handed.append(sum(1 for _ in delivery.dossier.media_stream()))
        if crash == "in-the-handler" and len(handed) == 1:
            raise _Crash

    release = Reassembly.release

    def release_then_crash(self: Reassembly, keys: Any) -> None:
        keys = list(keys)
        if ("ES-PN", stream.envelope_id) in keys:
            raise _Crash  # the store committed the delivery handled; the parts are still there
        release(self, keys)

    if crash == "before-the-parts-are-deleted":
        monkeypatch.setattr(Reassembly, "release", release_then_crash)
    de = network.node("DE-BKA")
    with pytest.raises(_Crash):
        async with de:
            await de.consume(handler=handler, until_idle=5.0)
    monkeypatch.undo()
    de = network.node("DE-BKA")
    async with de:
        assert _stored_part_bytes(de) > 0  # a crash never loses the parts of an unreleased dossier
        stats = await de.consume(handler=handler, until_idle=5.0)
        assert _stored_part_bytes(de) == 0  # handled and committed: deleted
    # Handed over again only if the crash came while the handler ran; the manifest that
    # Kafka re-delivers (its offset was never committed) is refused as a replay.
    assert handed == ([3000, 3000] if crash == "in-the-handler" else [3000])
    assert stats.reasons == {"replayed": 1}
    got, reasons = await _receive(network)
    assert (got, reasons) == ([], {})
