"""The hub's PDQ clusters: order-independent components through the exact index (no Kafka)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from broker.hub import HubIndex
from broker.hub.pdq import CLUSTER_PREFIX
from broker.matching.pdq import to_hex
from broker.models import Dossier
from broker.synthetic import example_dossier


def _flip(hex_hash: str, bits: list[int]) -> str:
    value = int(hex_hash, 16)
    for b in bits:
        value ^= 1 << b
    return f"{value:064x}"


def _media_dossier(seed: int, hashes: list[str], *, quality: int | None = None) -> Dossier:
    doc = example_dossier(seed).model_dump()
    doc["persons"], doc["groups"], doc["devices"] = [], [], []
    doc["media"] = [
        {
            "sha256": f"{seed:032x}{i:032x}",
            "category": "C",
            "perceptual_hash": h,
            "perceptual_algorithm": "PDQ",
            "perceptual_quality": quality,
        }
        for i, h in enumerate(hashes)
    ]
    doc["codes"]["handling"], doc["codes"]["tlp"] = ["H0"], "GREEN"
    return Dossier.model_validate(doc)


def _hashes() -> list[str]:
    """Three chains: a--b--c (each 20 bits apart, a to c 40), d--e, and a lone f."""
    rng = np.random.default_rng(7)
    a, d, f = to_hex(rng.integers(0, 2**63, size=(3, 4), dtype=np.uint64))
    b = _flip(a, list(range(20)))
    c = _flip(b, list(range(20, 40)))
    e = _flip(d, list(range(100, 131)))
    return [a, b, c, d, e, f]


def _clusters(index: HubIndex, hashes: list[str]) -> dict[str, str]:
    out = {str(h): "pdq:" + str(c) for h, c in index._db.execute("SELECT hash, cluster FROM pdq")}
    held = {k for (k,) in index._db.execute("SELECT key FROM holdings WHERE key LIKE 'pdq:%'")}
    assert held == set(out.values())  # every holding was re-keyed to its current cluster
    return {h: out[h] for h in hashes}


def test_clusters_and_ids_do_not_depend_on_arrival_order_or_batching(tmp_path: Path) -> None:
    hashes = _hashes()
    seen = []
    for trial in range(4):
        order = hashes[:]
        random.Random(trial).shuffle(order)
        cut = sorted(random.Random(100 + trial).sample(range(1, len(order)), 2))
        batches = [order[: cut[0]], order[cut[0] : cut[1]], order[cut[1] :]]
        index = HubIndex.open(tmp_path / f"t{trial}" / "hub.db")
        for n, batch in enumerate(batches):
            index.add(_media_dossier(n + 1, batch), agency="ES-PN", envelope_id=f"e{n}")
        seen.append(_clusters(index, hashes))
        index.close()
        assert len(set(seen[-1].values())) == 3
    partitions = [sorted(sorted(h for h in c if c[h] == k) for k in set(c.values())) for c in seen]
    a, b, c, d, e, f = hashes
    assert all(p == partitions[0] for p in partitions)
    assert sorted(partitions[0]) == sorted([sorted([a, b, c]), sorted([d, e]), [f]])
    assert all(k.startswith("pdq:" + CLUSTER_PREFIX) for k in seen[0].values())
    assert not [k for k in seen[0].values() if any(h in k for h in hashes)]


def test_a_bridging_hash_merges_clusters_and_old_keys_still_resolve(tmp_path: Path) -> None:
    a, b, c, *_ = _hashes()
    index = HubIndex.open(tmp_path / "hub.db")
    (ka,) = [
        k for k in index.add(_media_dossier(1, [a]), agency="ES-PN", envelope_id="e1") if "pdq" in k
    ]
    (kc,) = [
        k
        for k in index.add(_media_dossier(2, [c]), agency="DE-BKA", envelope_id="e2")
        if "pdq" in k
    ]
    assert ka != kc and not index.links()  # a and c are 40 bits apart
    (kb,) = [
        k for k in index.add(_media_dossier(3, [b]), agency="IT-PS", envelope_id="e3") if "pdq" in k
    ]
    assert index.links() == {kb: {"ES-PN", "DE-BKA", "IT-PS"}}
    assert index.current_key(ka) == index.current_key(kc) == kb
    index.close()


def test_low_quality_pdq_is_never_matched(tmp_path: Path) -> None:
    a, b, *_ = _hashes()
    index = HubIndex.open(tmp_path / "hub.db")
    index.add(_media_dossier(1, [a], quality=90), agency="ES-PN", envelope_id="e1")
    keys = index.add(_media_dossier(2, [a, b], quality=49), agency="DE-BKA", envelope_id="e2")
    assert not [k for k in keys if k.startswith("pdq:")]
    assert not index.links()
    index.close()


def test_restart_loads_the_saved_index_and_adds_only_rows_written_since(tmp_path: Path) -> None:
    a, b, _, d, e, _ = _hashes()
    path = tmp_path / "hub.db"
    index = HubIndex.open(path)
    index.add(_media_dossier(1, [a, d]), agency="ES-PN", envelope_id="e1")
    index.close()  # saves the snapshot
    snapshot = path.with_name("hub.db.pdq")
    assert (snapshot / "CURRENT").is_file()
    reopened = HubIndex.open(path)
    assert reopened.pdq.index.stats()["pdq"]["segments"] == [2]  # loaded, not rebuilt
    reopened.add(_media_dossier(2, [b]), agency="DE-BKA", envelope_id="e2")
    reopened._db.close()  # a crash: the snapshot lacks b
    again = HubIndex.open(path)
    assert again.pdq.index.stats()["pdq"]["rows"] == 3
    keys = again.add(_media_dossier(3, [e]), agency="IT-PS", envelope_id="e3")
    links = again.links()
    assert {frozenset(v) for v in links.values()} == {
        frozenset({"ES-PN", "DE-BKA"}),
        frozenset({"ES-PN", "IT-PS"}),
    }
    assert next(k for k in keys if k.startswith("pdq:")) in links
    again.close()


def test_a_seizure_sized_dossier_is_matched_in_one_batch_per_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(16)
    hashes = to_hex(rng.integers(0, 2**63, size=(5_000, 4), dtype=np.uint64))
    index = HubIndex.open(tmp_path / "hub.db")
    calls: list[tuple[str, int]] = []
    for name, target in (("holdings", index.pdq.index), ("lists", index.lists.state.index)):
        search = target.query_batch

        def counted(pdq: Any, *, _n: str = name, _f: Any = search, **kw: Any) -> Any:
            calls.append((_n, len(pdq)))
            return _f(pdq, **kw)

        monkeypatch.setattr(target, "query_batch", counted)
    d = _media_dossier(3, hashes)
    index.add(d, agency="ES-PN", envelope_id="e" * 32)
    index.match_lists(d)
    # One batched query per index for the whole dossier (each split into chunks searched
    # by every core inside HashIndex.query_batch), never one query per media reference.
    assert calls == [("holdings", 5_000), ("lists", 5_000)]
    index.close()
