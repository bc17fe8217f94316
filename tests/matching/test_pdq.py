"""PDQ hash parsing, printing and distance."""

from __future__ import annotations

import numpy as np
import pytest

from broker.errors import HashFormatError
from broker.matching.pdq import distance, parse_digests, parse_hex, slot_keys, to_hex


def test_hex_round_trip_and_bit_order() -> None:
    text = "8" + "0" * 63  # bit 0 is the most significant bit of the first digit
    words = parse_hex([text])
    assert int(words[0, 0]) == 1 << 63
    assert to_hex(words) == [text]
    assert int(slot_keys(words, 0, 1)[0]) == 1
    assert int(slot_keys(words, 1, 16)[0]) == 0


def test_slot_keys_across_a_word_boundary() -> None:
    words = parse_hex(["0" * 15 + "1" + "8" + "0" * 47])  # bits 63 and 64 set
    assert int(slot_keys(words, 62, 4)[0]) == 0b0110


def test_complement_is_at_distance_256_not_0() -> None:
    words = parse_hex(["0f" * 32, "f0" * 32])
    assert int(distance(words[:1], words[1:])[0]) == 256


@pytest.mark.parametrize("bad", ["zz" * 32, "00" * 31, "00" * 33])
def test_malformed_hash_is_a_typed_error(bad: str) -> None:
    with pytest.raises(HashFormatError):
        parse_hex([bad])


def test_md5_digests_are_two_words() -> None:
    words = parse_digests(["00" * 15 + "01"], nbytes=16, what="MD5")
    assert words.shape == (1, 2)
    assert int(words[0, 1]) == 1
    assert np.array_equal(words, parse_digests([bytes(15) + b"\x01"], nbytes=16, what="MD5"))
