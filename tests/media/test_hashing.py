"""One file: digests equal hashlib's, PDQ matches near-duplicates, nothing a file holds aborts."""

from __future__ import annotations

import hashlib
import itertools
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from broker.media.hashing import (
    FileHash,
    HashOptions,
    Outcome,
    hash_file,
    pdq_distance,
    pdq_hash,
)
from broker.media.synthetic import near_duplicates, synthetic_image

MATCH = 31  # Meta's recommended PDQ match distance (pdq/README.md)


def _hash(path: Path, **options: int | bool) -> FileHash:
    return hash_file(str(path.parent), path.name, HashOptions(**options))  # type: ignore[arg-type]


def test_digests_equal_hashlib_for_a_file_larger_than_the_chunk(tmp_path: Path) -> None:
    data = os.urandom(100_000) + b"tail"
    (tmp_path / "blob.bin").write_bytes(data)
    got = _hash(tmp_path / "blob.bin", chunk_size=4096)  # 25 chunks through one buffer
    assert got.outcome is Outcome.NOT_IMAGE and got.size == len(data)
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("data", [b"", b"x", b"y" * 4096, b"z" * 4097])
def test_digests_at_chunk_boundaries(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "f").write_bytes(data)
    got = _hash(tmp_path / "f", chunk_size=4096)
    assert (got.sha256, got.md5, got.size) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        len(data),
    )


def test_image_larger_than_the_chunk_is_decoded_from_the_file(
    picture: Callable[..., Path],
) -> None:
    path = picture("big.png", seed=4, size=256, fmt="PNG")
    assert path.stat().st_size > 4096
    streamed = _hash(path, chunk_size=4096)
    in_memory = _hash(path)
    assert streamed.outcome is Outcome.IMAGE
    assert streamed.pdq == in_memory.pdq == pdq_hash(synthetic_image(4, size=256))[0]
    assert streamed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("seed", range(6))
def test_near_duplicates_land_within_pdq_distance_31(seed: int) -> None:
    original = synthetic_image(seed, size=256)
    reference, quality = pdq_hash(original)
    assert quality >= 50
    for kind, variant in near_duplicates(original).items():
        distance = pdq_distance(reference, pdq_hash(variant)[0])
        assert distance <= MATCH, f"{kind}: {distance}"


def test_unrelated_pictures_are_far_apart() -> None:
    hashes = [pdq_hash(synthetic_image(seed, size=256))[0] for seed in range(100, 110)]
    distances = [pdq_distance(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert min(distances) > MATCH
    assert 100 <= sorted(distances)[len(distances) // 2] <= 156  # about half the 256 bits


def test_pdq_hex_is_meta_s_format_bit_255_first() -> None:
    digest, _ = pdq_hash(synthetic_image(1, size=64))
    assert len(digest) == 64 and int(digest, 16).bit_length() <= 256
    assert digest == digest.lower()


def test_flat_picture_has_quality_0(tmp_path: Path) -> None:
    Image.new("RGB", (128, 128), (30, 160, 60)).save(tmp_path / "flat.png")
    got = _hash(tmp_path / "flat.png")
    assert got.outcome is Outcome.IMAGE and got.pdq_quality == 0 and got.pdq is not None


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "1"])
def test_any_picture_mode_is_hashed_as_rgb(tmp_path: Path, mode: str) -> None:
    image = synthetic_image(2, size=64).convert(mode)
    image.save(tmp_path / "p.tiff")
    got = _hash(tmp_path / "p.tiff")
    assert got.outcome is Outcome.IMAGE, got.detail


def test_truncated_jpeg_is_a_broken_image_with_digests(picture: Callable[..., Path]) -> None:
    path = picture("cut.jpg", seed=3, size=128)
    data = path.read_bytes()[:700]
    path.write_bytes(data)
    got = _hash(path)
    assert got.outcome is Outcome.BROKEN_IMAGE and got.pdq is None and got.detail
    assert got.sha256 == hashlib.sha256(data).hexdigest()


def test_picture_over_the_pixel_limit_is_not_decoded(picture: Callable[..., Path]) -> None:
    got = _hash(picture("wide.png", size=64, fmt="PNG"), max_pixels=64 * 64 - 1)
    assert got.outcome is Outcome.OVERSIZED_IMAGE and got.pdq is None and got.sha256


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize("side", [10_000, 50_000])
def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path, side: int) -> None:
    # A 60-byte PNG claiming side x side RGB pixels (300 MB / 7.5 GB decoded): never decoded.
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    got = _hash(tmp_path / "bomb.png")
    assert got.outcome is Outcome.OVERSIZED_IMAGE and got.sha256 == hashlib.sha256(png).hexdigest()


def test_text_that_starts_like_nothing_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("P6 looks a bit like a PPM header but is not one")
    assert _hash(tmp_path / "a.txt").outcome is Outcome.NOT_IMAGE


def test_vanished_file_is_unreadable(tmp_path: Path) -> None:
    got = hash_file(str(tmp_path), "gone.jpg")
    assert got.outcome is Outcome.UNREADABLE and got.sha256 is None
    assert got.detail == "No such file or directory"


def test_fifo_is_unreadable_and_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    got = hash_file(str(tmp_path), "pipe")
    assert got.outcome is Outcome.UNREADABLE and got.detail == "not a regular file"


def test_path_swapped_for_a_symlink_after_the_walk_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("outside the seizure")
    (tmp_path / "seized").mkdir()
    (tmp_path / "seized" / "x.jpg").symlink_to(tmp_path / "outside.txt")
    got = hash_file(str(tmp_path / "seized"), "x.jpg")
    assert got.outcome is Outcome.UNREADABLE and got.sha256 is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "locked.jpg").write_bytes(b"x")
    (tmp_path / "locked.jpg").chmod(0)
    got = hash_file(str(tmp_path), "locked.jpg")
    assert got.outcome is Outcome.UNREADABLE and got.detail == "Permission denied"


def test_pdq_downscale_stays_close_to_the_full_resolution_hash(
    picture: Callable[..., Path],
) -> None:
    path = picture("large.jpg", seed=9, size=1200)
    full, fast = _hash(path), _hash(path, pdq_downscale=True)
    assert full.outcome is fast.outcome is Outcome.IMAGE and full.sha256 == fast.sha256
    assert full.pdq is not None and fast.pdq is not None
    assert 0 < pdq_distance(full.pdq, fast.pdq) <= MATCH  # close, not equal


def test_pdq_downscale_leaves_small_pictures_alone(picture: Callable[..., Path]) -> None:
    path = picture("small.jpg", seed=9, size=256)
    assert _hash(path, pdq_downscale=True).pdq == _hash(path).pdq
