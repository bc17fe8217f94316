"""The streamed-dossier construction, against tests/vectors/spec/stream.json and the
attacks it must detect (each refused with its own error class)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from broker.envelope.stream import (
    PART_SIZE,
    Part,
    PartOpener,
    PartSealer,
    part_aad,
    part_nonce,
    stream_key,
)
from broker.errors import MalformedPartError, PartMismatchError
from broker.models.streamed import Manifest, MediaItemReader

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "spec" / "stream.json").read_text()
)
KEY = bytes.fromhex(VECTOR["content_key"])
EID = VECTOR["envelope_id"]


def _sealer() -> PartSealer:
    return PartSealer(
        content_key=KEY, envelope_id=EID, sender=VECTOR["sender"], recipients=VECTOR["recipients"]
    )


def _opener(eid: str = EID) -> PartOpener:
    return PartOpener(
        content_key=KEY, envelope_id=eid, sender=VECTOR["sender"], recipients=VECTOR["recipients"]
    )


def _big() -> bytes:
    return bytes(i % 251 for i in range(PART_SIZE + 5))


def _records(data: bytes) -> list[bytes]:
    sealer = _sealer()
    return [*sealer.write(data), *sealer.close()]


def test_stream_key_nonce_and_aad_match_the_vector() -> None:
    assert stream_key(KEY, EID).hex() == VECTOR["stream_key"]
    small = VECTOR["small"]
    assert part_nonce(0, True).hex() == small["nonce_0"]
    aad = part_aad(envelope_id=EID, sender=VECTOR["sender"], index=0, final=True)
    assert aad.hex() == small["aad_0"]


def test_small_stream_matches_the_vector_byte_for_byte() -> None:
    small = VECTOR["small"]
    plain = bytes.fromhex(small["plaintext"])
    sealer = _sealer()
    records = [*sealer.write(plain), *sealer.close()]
    assert [r.hex() for r in records] == small["part_records"]
    assert sealer.root.hex() == small["chain"][-1]
    manifest = Manifest.from_bytes(bytes.fromhex(small["manifest_payload"]))
    assert (manifest.part_count, manifest.root) == (1, sealer.root)
    opener = _opener()
    refs = list(MediaItemReader().feed(opener.open(records[0])))
    assert [r.sha256[-1] for r in refs] == ["1", "2"]


def test_two_part_stream_matches_the_vector() -> None:
    two = VECTOR["two_parts"]
    records = _records(_big())
    assert [hashlib.sha256(r).hexdigest() for r in records] == two["part_record_sha256"]
    opener = _opener()
    assert b"".join(opener.open(r) for r in records) == _big()
    assert opener.root.hex() == two["chain"][-1]
    assert opener.finished and opener.total == two["total_bytes"]


def test_reordered_parts_do_not_decrypt() -> None:
    records = _records(_big() * 2)
    opener = _opener()
    with pytest.raises(PartMismatchError):
        opener.open(records[1])  # index 1 where 0 is due


def test_part_moved_to_another_index_does_not_decrypt() -> None:
    records = _records(_big() * 2)
    moved = replace(Part.from_bytes(records[1], max_bytes=1 << 20), index=0).to_bytes()
    with pytest.raises(PartMismatchError, match="part rejected"):
        _opener().open(moved)


def test_truncation_with_a_forged_final_flag_does_not_decrypt() -> None:
    records = _records(_big() * 2)
    opener = _opener()
    opener.open(records[0])
    forged = replace(Part.from_bytes(records[1], max_bytes=1 << 20), final=True).to_bytes()
    with pytest.raises(PartMismatchError):
        opener.open(forged)


def test_part_from_another_dossier_does_not_decrypt() -> None:
    records = _records(_big())
    other = replace(Part.from_bytes(records[0], max_bytes=1 << 20), envelope_id="f" * 32)
    with pytest.raises(PartMismatchError):
        _opener("f" * 32).open(other.to_bytes())


def test_substituted_ciphertext_does_not_decrypt() -> None:
    records = _records(b"hello")
    part = Part.from_bytes(records[0], max_bytes=1 << 20)
    bad = replace(part, ciphertext=bytes([part.ciphertext[0] ^ 1]) + part.ciphertext[1:])
    with pytest.raises(PartMismatchError):
        _opener().open(bad.to_bytes())


def test_part_after_the_final_one_is_refused() -> None:
    records = _records(b"hello")
    opener = _opener()
    opener.open(records[0])
    with pytest.raises(PartMismatchError):
        opener.open(records[0])


def test_oversized_part_record_is_refused_before_decoding() -> None:
    with pytest.raises(MalformedPartError, match="part rejected"):
        Part.from_bytes(b"\xc3\x01" + bytes(2000), max_bytes=1000)


def test_every_part_record_stays_well_under_the_record_limit() -> None:
    from broker.envelope import MAX_ENVELOPE_BYTES

    assert max(len(r) for r in _records(_big() * 3)) < MAX_ENVELOPE_BYTES // 3
