"""PDQ hashes as arrays of four 64-bit words: parsing, printing, distance, slot keys.

A PDQ hash is 256 bits written as 64 hex digits. Bit 0 is the most significant
bit of the first hex digit; word ``w`` holds bits ``64*w .. 64*w+63``, most
significant first, so word 0 is ``int(hex[0:16], 16)``. Arrays are
``(n, 4)`` of ``uint64`` in native (little-endian) byte order.

Example::

    >>> words = parse_hex(["f" * 64, "0" * 64])
    >>> words.shape, int(distance(words[:1], words[1:])[0])
    ((2, 4), 256)
    >>> to_hex(words[1:])
    ['0000000000000000000000000000000000000000000000000000000000000000']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from broker.errors import HashFormatError

__all__ = [
    "HASH_BITS",
    "Words",
    "as_words",
    "distance",
    "parse_digests",
    "parse_hex",
    "slot_keys",
    "to_hex",
]

#: Bits in a PDQ hash.
HASH_BITS = 256

#: ``(n, k)`` array of ``uint64`` words (k = 4 for PDQ and SHA-256, 2 for MD5).
Words = NDArray[np.uint64]


def parse_digests(values: Sequence[str | bytes], *, nbytes: int, what: str) -> Words:
    """Parse hex strings (or raw byte strings) of ``nbytes`` bytes into ``(n, nbytes/8)`` words.

    Words are read big-endian, so sorting rows of words sorts the digests as bytes.
    """
    if nbytes % 8:
        raise ValueError("nbytes must be a multiple of 8")
    raw = bytearray()
    for i, value in enumerate(values):
        try:
            chunk = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
        except ValueError:
            raise HashFormatError(
                f"{what} #{i} is not hexadecimal", detail=f"value {value[:80]!r}"
            ) from None
        if len(chunk) != nbytes:
            raise HashFormatError(
                f"{what} #{i} has {len(chunk)} bytes, not {nbytes}",
                detail=f"value {value[:80]!r}",
            )
        raw += chunk
    out = np.frombuffer(bytes(raw), dtype=">u8").astype(np.uint64)
    return out.reshape(len(values), nbytes // 8)


def parse_hex(hashes: Sequence[str | bytes]) -> Words:
    """Parse PDQ hashes (64 hex digits, or 32 raw bytes each) into an ``(n, 4)`` array."""
    return parse_digests(hashes, nbytes=32, what="PDQ hash")


def as_words(values: Sequence[str | bytes] | NDArray[np.uint64], *, words: int, what: str) -> Words:
    """Return ``values`` as a C-contiguous ``(n, words)`` uint64 array, parsing text if needed."""
    if isinstance(values, np.ndarray):
        if values.dtype != np.uint64 or values.ndim != 2 or values.shape[1] != words:
            raise HashFormatError(
                f"{what} array must be (n, {words}) uint64",
                detail=f"got {values.dtype} {values.shape}",
            )
        return np.ascontiguousarray(values)
    return parse_digests(values, nbytes=8 * words, what=what)


def to_hex(words: Words) -> list[str]:
    """Return the hex text of each row of ``words``."""
    raw = np.ascontiguousarray(words).astype(">u8").tobytes()
    width = words.shape[1] * 8
    return [raw[i : i + width].hex() for i in range(0, len(raw), width)]


def distance(a: Words, b: Words) -> NDArray[np.uint16]:
    """Return the Hamming distance between rows of ``a`` and ``b`` (broadcasting rows).

    Summed in ``uint16``: four ``uint8`` popcounts of 64 can reach 256, which
    would wrap to 0 in ``uint8`` and make a complement hash look identical.
    """
    counts = np.bitwise_count(np.bitwise_xor(a, b))
    out: NDArray[np.uint16] = counts.sum(axis=-1, dtype=np.uint16)
    return out


def slot_keys(words: Words, offset: int, width: int) -> NDArray[np.intp]:
    """Return bits ``offset .. offset+width-1`` of each hash as an integer (``width <= 32``)."""
    if not 0 < width <= 32 or offset + width > HASH_BITS:
        raise ValueError("slot out of range")
    w, o = divmod(offset, 64)
    if o + width <= 64:
        field = (words[:, w] >> np.uint64(64 - o - width)) & np.uint64((1 << width) - 1)
    else:
        low_bits = o + width - 64
        high = words[:, w] & np.uint64((1 << (64 - o)) - 1)
        field = (high << np.uint64(low_bits)) | (words[:, w + 1] >> np.uint64(64 - low_bits))
    return field.astype(np.intp)
