"""Hash-list hits recorded on a hub key follow what is held under it (no Kafka).

* Clusters merge when a new dossier bridges them, and the merged cluster gets one id:
  the list hits (``list_key_hits``) used to stay behind on the old keys, so the merged
  cluster lost its known-material status (the hub stopped telling holders that their
  media is on a hotline's list).
* A recall takes a dossier's hashes out of the hub (issue 18): a list hit that only the
  recalled dossier's media made is derived from it and goes; hits that remaining
  dossiers make stay, under their cluster's key after a split or rename.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.hashlist import ListState
from broker.hashlist.state import Applied
from broker.hashlist.update import ListUpdate
from broker.hub import HubIndex
from tests.hub.test_pdq_clusters import _flip, _hashes, _media_dossier

TOPIC = "fed.hashlist.IT-PS.hotline"


def _listed(state: ListState, pdq: str | None = None, sha256: str | None = None) -> None:
    update = ListUpdate(
        list="hotline", owner="IT-PS", key_id="sig-1", entry_id="x1", version=1, op="ADD",
        pdq=pdq, sha256=sha256, category="A",
    )  # fmt: skip
    state.apply([Applied(topic=TOPIC, partition=0, offset=0, update=update)])


def _pdq_key(index: HubIndex, agency: str, envelope_id: str) -> str:
    (key,) = [k for k in index.keys_of(agency, envelope_id) if k.startswith("pdq:")]
    return key


@pytest.mark.parametrize("listed_first", [True, False])
def test_a_list_hit_survives_the_merge_of_its_cluster(tmp_path: Path, listed_first: bool) -> None:
    a = _hashes()[0]
    b = _flip(a, list(range(60)))  # 60 bits from a: another cluster
    bridge = _flip(a, list(range(30)))  # 30 bits from a and from b: joins them
    on_list = _flip(a, list(range(100, 106)))  # 6 bits from a; 36 from the bridge, 66 from b
    index = HubIndex.open(tmp_path / "hub.db")
    try:
        _listed(index.lists.state, on_list)
        first, second = (a, b) if listed_first else (b, a)
        for seed, pdq, agency in ((1, first, "ES-PN"), (2, second, "DE-BKA")):
            dossier = _media_dossier(seed, [pdq])
            index.add(dossier, agency=agency, envelope_id=f"e{seed}")
            index.match_lists(dossier)  # as the hub service does
        listed_holder = ("ES-PN", "e1") if listed_first else ("DE-BKA", "e2")
        before = _pdq_key(index, *listed_holder)
        assert [m.entry_id for m in index.lists.matches(before)] == ["x1"]
        index.add(_media_dossier(3, [bridge]), agency="PT-PJ", envelope_id="e3")
        assert index.match_lists(_media_dossier(3, [bridge])).by_key == {}  # not on the list
        merged = _pdq_key(index, "PT-PJ", "e3")
        assert _pdq_key(index, "ES-PN", "e1") == _pdq_key(index, "DE-BKA", "e2") == merged
        assert [m.entry_id for m in index.lists.matches(merged)] == ["x1"]
    finally:
        index.close()


def _add(index: HubIndex, seed: int, pdq: list[str], agency: str) -> None:
    dossier = _media_dossier(seed, pdq)
    index.add(dossier, agency=agency, envelope_id=f"e{seed}")
    index.match_lists(dossier)


def _hits(index: HubIndex, key: str) -> list[str]:
    return [m.entry_id for m in index.lists.matches(key)]


def _orphans(index: HubIndex) -> list[str]:
    """List hits recorded on a key that nothing is held under (derived from what went)."""
    rows = index._db.execute(
        "SELECT DISTINCT key FROM list_key_hits WHERE key NOT IN (SELECT key FROM holdings)"
    )
    return [str(r[0]) for r in rows]


def test_a_list_hit_only_the_recalled_dossier_made_goes_with_it(tmp_path: Path) -> None:
    a = _hashes()[0]
    near = _flip(a, list(range(20)))  # same cluster as a; 26 bits from the listed hash
    on_list = _flip(a, list(range(100, 106)))  # 6 bits from a, 26 from near: both match
    far = _flip(a, list(range(200, 230)))  # 30 bits from a: same cluster; 36 from the list
    index = HubIndex.open(tmp_path / "hub.db")
    try:
        _listed(index.lists.state, pdq=on_list)
        _add(index, 1, [a], "ES-PN")
        _add(index, 2, [far], "DE-BKA")
        _add(index, 3, [near], "PT-PJ")
        key = _pdq_key(index, "DE-BKA", "e2")
        assert _hits(index, key) == ["x1"]
        index.erase_envelope("PT-PJ", "e3")  # a still matches: the hit stays
        assert _hits(index, _pdq_key(index, "DE-BKA", "e2")) == ["x1"]
        index.erase_envelope("ES-PN", "e1")  # nothing left that matches: derived, gone
        key = _pdq_key(index, "DE-BKA", "e2")
        assert _hits(index, key) == []
        assert not index.is_known(key)
        assert _orphans(index) == []
    finally:
        index.close()


def test_a_split_cluster_keeps_the_hit_on_the_part_that_matches(tmp_path: Path) -> None:
    a = _hashes()[0]
    b = _flip(a, list(range(60)))  # another cluster ...
    bridge = _flip(a, list(range(30)))  # ... until this dossier links them
    on_list = _flip(a, list(range(100, 106)))
    index = HubIndex.open(tmp_path / "hub.db")
    try:
        _listed(index.lists.state, pdq=on_list)
        _add(index, 1, [a], "ES-PN")
        _add(index, 2, [b], "DE-BKA")
        _add(index, 3, [bridge], "PT-PJ")
        assert _pdq_key(index, "ES-PN", "e1") == _pdq_key(index, "DE-BKA", "e2")
        index.erase_envelope("PT-PJ", "e3")  # the bridge goes: two clusters again
        with_a, with_b = _pdq_key(index, "ES-PN", "e1"), _pdq_key(index, "DE-BKA", "e2")
        assert with_a != with_b
        assert (_hits(index, with_a), _hits(index, with_b)) == (["x1"], [])
        assert _orphans(index) == []
    finally:
        index.close()


def test_an_exact_list_hit_of_a_recalled_dossier_no_longer_counts(tmp_path: Path) -> None:
    index = HubIndex.open(tmp_path / "hub.db")
    try:
        dossier = _media_dossier(1, [_hashes()[0]])
        sha = dossier.media[0].sha256
        _listed(index.lists.state, sha256=sha)
        index.add(dossier, agency="ES-PN", envelope_id="e1")
        index.match_lists(dossier)
        assert _hits(index, f"sha256:{sha}") == ["x1"]
        index.erase_envelope("ES-PN", "e1")
        assert _hits(index, f"sha256:{sha}") == []
        media = index._db.execute("SELECT COUNT(*) FROM list_media WHERE media = ?", (sha,))
        assert media.fetchone() == (0,)  # no longer counted toward the entry's quarantine
    finally:
        index.close()
