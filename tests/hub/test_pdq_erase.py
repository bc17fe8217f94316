"""A recall takes its PDQ hashes out of the hub: the table, the index, the saved snapshot, and
the clusters they bridged (issue 18 item 2; no Kafka)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from broker.hub import HubIndex
from broker.matching import HashIndex
from broker.matching.pdq import parse_hex
from tests.hub.test_pdq_clusters import _flip, _hashes, _media_dossier


def _pdq_key(index: HubIndex, agency: str, envelope_id: str) -> str:
    (key,) = [k for k in index.keys_of(agency, envelope_id) if k.startswith("pdq:")]
    return key


def _finds(index: HubIndex, h: str) -> bool:
    return len(index.pdq.index.query_batch([h], threshold=0)) > 0


def _snapshot_words(path: Path) -> set[tuple[int, ...]]:
    """Every hash the saved snapshot holds, withdrawn rows included."""
    saved = HashIndex.load(path.with_name(path.name + ".pdq"))
    return {
        tuple(int(w) for w in row)
        for seg in saved._pdq
        for row in seg.words(np.arange(len(seg))).tolist()
    }


def test_a_recalled_dossiers_pdq_hash_leaves_the_table_the_index_and_the_snapshot(
    tmp_path: Path,
) -> None:
    a, *_, f = _hashes()
    path = tmp_path / "hub.db"
    index = HubIndex.open(path)
    index.add(_media_dossier(1, [f]), agency="DE-BKA", envelope_id="e0")
    index.close()  # a snapshot that f is in
    index = HubIndex.open(path)
    index.add(_media_dossier(2, [a]), agency="ES-PN", envelope_id="e1")
    index.close()  # a snapshot that a is in
    index = HubIndex.open(path)
    index.erase_envelope("ES-PN", "e1")
    assert index._db.execute("SELECT 1 FROM pdq WHERE hash = ?", (a,)).fetchone() is None
    assert not _finds(index, a) and _finds(index, f)
    index.close()
    words = _snapshot_words(path)
    assert tuple(parse_hex([a])[0].tolist()) not in words
    assert tuple(parse_hex([f])[0].tolist()) in words
    reopened = HubIndex.open(path)
    assert not _finds(reopened, a) and _finds(reopened, f)
    reopened.close()


def test_a_crash_after_a_recall_does_not_bring_the_hash_back_from_the_old_snapshot(
    tmp_path: Path,
) -> None:
    a, b, *_ = _hashes()
    path = tmp_path / "hub.db"
    index = HubIndex.open(path)
    index.add(_media_dossier(1, [a]), agency="ES-PN", envelope_id="e1")
    index.close()
    index = HubIndex.open(path)
    index.erase_envelope("ES-PN", "e1")
    index._db.close()  # a crash: the saved snapshot still has a
    again = HubIndex.open(path)
    assert not _finds(again, a)
    keys = again.add(_media_dossier(2, [b]), agency="DE-BKA", envelope_id="e2")  # 20 bits from a
    assert keys and not again.links()
    again.close()
    assert tuple(parse_hex([a])[0].tolist()) not in _snapshot_words(path)


def test_recalling_the_only_bridge_splits_the_cluster(tmp_path: Path) -> None:
    a, b, c, *_ = _hashes()  # a--b and b--c within the threshold, a to c 40 bits
    index = HubIndex.open(tmp_path / "hub.db")
    index.add(_media_dossier(1, [a]), agency="ES-PN", envelope_id="e1")
    index.add(_media_dossier(2, [c]), agency="DE-BKA", envelope_id="e2")
    index.add(_media_dossier(3, [b]), agency="IT-PS", envelope_id="e3")
    (old,) = index.links()
    index.mark_notified(old, "ES-PN", {"DE-BKA", "IT-PS"})
    index.mark_notified(old, "DE-BKA", {"ES-PN", "IT-PS"})
    index.add_release_request(
        request_id="r1", key=old, owner="DE-BKA", owner_envelope_id="e2", requested_for={"ES-PN"}
    )
    index.erase_envelope("IT-PS", "e3")
    ka, kc = _pdq_key(index, "ES-PN", "e1"), _pdq_key(index, "DE-BKA", "e2")
    assert ka != kc
    assert not index.links()
    assert [h.value for h in index.holdings(ka)] == [a]
    assert [h.value for h in index.holdings(kc)] == [c]
    assert index.notified_others(ka, "ES-PN") == {"DE-BKA", "IT-PS"}
    assert index.notified_others(kc, "DE-BKA") == {"ES-PN", "IT-PS"}
    assert index.notified_others(kc, "ES-PN") is None
    request = index.release_request("r1")
    assert request is not None and request["key"] == kc
    assert index.current_key(old) == kc  # the owner's grant naming the old key still resolves
    assert index.current_key(ka) == ka and index.current_key(kc) == kc
    # New evidence near a (and far from c) links to ES-PN alone.
    index.add(_media_dossier(4, [_flip(a, [200])]), agency="PT-PJ", envelope_id="e4")
    assert index.links() == {_pdq_key(index, "ES-PN", "e1"): {"ES-PN", "PT-PJ"}}
    index.close()


def test_a_hash_another_dossier_still_holds_stays(tmp_path: Path) -> None:
    a, b, *_ = _hashes()
    index = HubIndex.open(tmp_path / "hub.db")
    index.add(_media_dossier(1, [a]), agency="ES-PN", envelope_id="e1")
    index.add(_media_dossier(2, [a, b]), agency="DE-BKA", envelope_id="e2")
    key = _pdq_key(index, "DE-BKA", "e2")
    index.erase_envelope("ES-PN", "e1")
    assert _finds(index, a) and _finds(index, b)
    assert index._db.execute("SELECT COUNT(*) FROM pdq").fetchone()[0] == 2
    assert _pdq_key(index, "DE-BKA", "e2") == key
    index.erase_envelope("DE-BKA", "e2")
    assert not _finds(index, a) and not _finds(index, b)
    assert index._db.execute("SELECT COUNT(*) FROM pdq").fetchone()[0] == 0
    index.close()


def test_a_hash_a_dossier_holds_beside_its_shown_value_stays(tmp_path: Path) -> None:
    a, b, *_ = _hashes()
    index = HubIndex.open(tmp_path / "hub.db")
    index.add(_media_dossier(1, [a, b]), agency="ES-PN", envelope_id="e1")  # shown value: a
    index.add(_media_dossier(2, [b]), agency="DE-BKA", envelope_id="e2")
    index.erase_envelope("DE-BKA", "e2")
    assert _finds(index, b)  # ES-PN's dossier still holds b, though its holding shows a
    index.close()


def test_recalling_the_smallest_member_renames_the_cluster_and_old_keys_resolve(
    tmp_path: Path,
) -> None:
    a, *_ = _hashes()
    small, large = sorted([a, _flip(a, list(range(10)))])
    index = HubIndex.open(tmp_path / "hub.db")
    index.add(_media_dossier(1, [large]), agency="ES-PN", envelope_id="e1")
    first = _pdq_key(index, "ES-PN", "e1")
    index.add(_media_dossier(2, [small]), agency="DE-BKA", envelope_id="e2")
    (old,) = index.links()
    assert index.current_key(first) == old != first  # a smaller member renamed it
    index.add_release_request(
        request_id="r1", key=old, owner="ES-PN", owner_envelope_id="e1", requested_for={"DE-BKA"}
    )
    index.mark_notified(old, "ES-PN", {"DE-BKA"})
    index.erase_envelope("DE-BKA", "e2")
    new = _pdq_key(index, "ES-PN", "e1")
    assert new == first  # the id of the cluster whose smallest member is `large`
    assert index.current_key(old) == new and index.current_key(first) == new
    request = index.release_request("r1")
    assert request is not None and request["key"] == new
    assert index.notified_others(new, "ES-PN") == {"DE-BKA"}
    assert not index.holdings(old) and not index.links()
    index.close()


def test_a_hub_db_written_before_pdq_held_is_backfilled_from_its_holdings(tmp_path: Path) -> None:
    a, *_, f = _hashes()
    path = tmp_path / "hub.db"
    index = HubIndex.open(path)
    index.add(_media_dossier(1, [a]), agency="ES-PN", envelope_id="e1")
    index.add(_media_dossier(2, [f]), agency="DE-BKA", envelope_id="e2")
    index._db.execute("DELETE FROM pdq_held")  # as a hub.db written before the table existed
    index._db.execute("DELETE FROM meta WHERE key = 'pdq_held'")
    index.close()
    reopened = HubIndex.open(path)
    reopened.erase_envelope("ES-PN", "e1")
    assert not _finds(reopened, a) and _finds(reopened, f)
    reopened.close()
