"""The automatic threshold: small dossiers keep the single-record path, large ones stream
without being read whole (the look-ahead is bounded)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from broker.agency.streaming import SINGLE_RECORD_BYTES, plan
from broker.devtools.chaos.parts import refs
from broker.models import MediaReference
from broker.models.streamed import encode_media_item
from broker.synthetic import example_dossier


def test_small_dossier_with_a_few_references_stays_one_record() -> None:
    whole, _, rest = plan(example_dossier(1), refs(10), [])
    assert whole is not None and len(whole.media) == len(example_dossier(1).media) + 10
    assert list(rest) == []


def test_large_reference_list_is_streamed_with_a_bounded_look_ahead() -> None:
    read = 0

    def endless() -> Iterator[MediaReference]:
        nonlocal read
        for ref in itertools.cycle(refs(100)):
            read += 1
            yield ref

    whole, small, rest = plan(example_dossier(1), endless(), [])
    assert whole is None and small.media == []
    per_item = len(encode_media_item(refs(1)[0]))
    assert read <= SINGLE_RECORD_BYTES // per_item + 1  # not the endless input
    first = list(itertools.islice(rest, len(example_dossier(1).media) + 5))
    assert first[: len(example_dossier(1).media)] == example_dossier(1).media


def test_dossier_whose_own_media_list_is_large_streams_it() -> None:
    big = example_dossier(2).model_copy(update={"media": refs(5000)})
    whole, small, rest = plan(big, [], [])
    assert whole is None and small.media == []
    assert sum(1 for _ in rest) == 5000
