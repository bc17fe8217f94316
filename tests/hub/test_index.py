"""Hub matching and originator-control decisions (no Kafka)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broker.hub import HubIndex, plan
from broker.hub.index import CLUSTER_PREFIX
from broker.hub.report import build_report, explain
from broker.models import Dossier
from broker.synthetic import example_dossier


def _with(dossier: Dossier, *, phone: str, restricted: bool, pdq: str | None = None) -> Dossier:
    doc = dossier.model_dump()
    doc["persons"] = doc["persons"][:1]
    doc["persons"][0]["selectors"] = [{"type": "PHONE_E164", "value": phone, "platform": None}]
    doc["persons"][0]["documents"] = []
    doc["groups"], doc["devices"] = [], []
    doc["media"] = (
        [
            {
                "sha256": f"{i:064x}",
                "category": "C",
                "perceptual_hash": pdq,
                "perceptual_algorithm": "PDQ" if pdq else None,
            }
            for i in ([1] if pdq else [])
        ]
        if pdq
        else []
    )
    codes = doc["codes"]
    codes["handling"], codes["tlp"] = (["H0", "H2"], "RED") if restricted else (["H0"], "GREEN")
    return Dossier.model_validate(doc)


@pytest.fixture
def index(tmp_path: Path) -> HubIndex:
    return HubIndex.open(tmp_path / "hub.db")


def test_restricted_owner_is_never_named_to_the_other_owner(index: HubIndex) -> None:
    index.add(
        _with(example_dossier(1), phone="+447700900001", restricted=True),
        agency="ES-PN",
        envelope_id="e1",
    )
    keys = index.add(
        _with(example_dossier(2), phone="+447700900001", restricted=False),
        agency="DE-BKA",
        envelope_id="e2",
    )
    notices = {n.owner: n for k in keys for n in plan(index, k)}
    assert notices["DE-BKA"].visible == set() and notices["DE-BKA"].permission_required
    assert notices["DE-BKA"].restricted_others == {"ES-PN"}
    assert notices["ES-PN"].visible == {"DE-BKA"} and not notices["ES-PN"].permission_required
    # Each owner is told its own value and its own envelope, never the other's.
    assert notices["DE-BKA"].owner_holding.envelope_id == "e2"


def test_unrestricted_owners_see_each_other(index: HubIndex) -> None:
    for agency, env in (("ES-PN", "e1"), ("PT-PJ", "e2")):
        keys = index.add(
            _with(example_dossier(3), phone="+447700900777", restricted=False),
            agency=agency,
            envelope_id=env,
        )
    notices = {n.owner: n for n in plan(index, keys[0])}
    assert notices["ES-PN"].visible == {"PT-PJ"} and notices["PT-PJ"].visible == {"ES-PN"}


def test_single_holder_is_no_hit(index: HubIndex) -> None:
    keys = index.add(
        _with(example_dossier(4), phone="+447700900555", restricted=False),
        agency="ES-PN",
        envelope_id="e1",
    )
    assert all(plan(index, k) == [] for k in keys)


def test_perceptual_hashes_match_within_the_hamming_threshold(index: HubIndex) -> None:
    base = "f" * 64
    near = "0" * 7 + "f" * 57  # 28 bits differ: within 31
    far = "f" * 32 + "0" * 32  # 128 bits from base, 156 from near: no match
    k1 = index.add(
        _with(example_dossier(5), phone="+447700900101", restricted=False, pdq=base),
        agency="ES-PN",
        envelope_id="e1",
    )
    k2 = index.add(
        _with(example_dossier(6), phone="+447700900102", restricted=False, pdq=near),
        agency="DE-BKA",
        envelope_id="e2",
    )
    k3 = index.add(
        _with(example_dossier(7), phone="+447700900103", restricted=False, pdq=far),
        agency="PT-PJ",
        envelope_id="e3",
    )
    (first,) = [k for k in k1 if k.startswith("pdq:")]
    (pdq,) = [k for k in k2 if k.startswith("pdq:")]
    # ``near`` is the smaller hash, so the cluster was renamed when it joined.
    assert index.current_key(first) == pdq and pdq not in k3
    assert index.links()[pdq] == {"ES-PN", "DE-BKA"}
    assert {h.agency: h.value for h in index.holdings(pdq)} == {"ES-PN": base, "DE-BKA": near}


def test_known_material_is_a_hit_for_a_single_holder(index: HubIndex) -> None:
    dossier = _with(example_dossier(8), phone="+447700900201", restricted=False, pdq="a" * 64)
    index.load_known_material([dossier.media[0].sha256])
    keys = index.add(dossier, agency="IT-PS", envelope_id="e9")
    key = f"sha256:{dossier.media[0].sha256}"
    (notice,) = plan(index, key)
    assert key in keys and notice.known_material and notice.owner == "IT-PS"
    assert index.known_hits() == {dossier.media[0].sha256: {"IT-PS"}}


def test_report_clusters_and_explains_links(index: HubIndex) -> None:
    for agency, env in (("ES-PN", "e1"), ("DE-BKA", "e2"), ("PT-PJ", "e3")):
        index.add(
            _with(example_dossier(9), phone="+447700900301", restricted=agency == "ES-PN"),
            agency=agency,
            envelope_id=env,
        )
    report = build_report(index)
    assert report["links"] == 1
    assert report["clusters"] == [{"agencies": ["DE-BKA", "ES-PN", "PT-PJ"], "dossiers": 3}]
    explained = explain(index, "phone:+447700900301")
    statuses = {h["agency"]: h["status"] for h in explained["holdings"]}
    assert statuses["ES-PN"] == "hit, permission required"
    assert statuses["DE-BKA"] == "releasable"


def test_hub_db_keyed_by_founder_hashes_is_migrated_to_opaque_cluster_ids(tmp_path: Path) -> None:
    """F11 migration: a hub.db written before opaque ids carries no hash in any key after."""
    founder, near = "f" * 64, "0" * 7 + "f" * 57
    path = tmp_path / "hub.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE holdings (key TEXT NOT NULL, agency TEXT NOT NULL, envelope_id TEXT NOT NULL,
            restricted INTEGER NOT NULL, value TEXT NOT NULL, codes TEXT NOT NULL,
            PRIMARY KEY (key, agency, envelope_id));
        CREATE TABLE pdq (hash TEXT PRIMARY KEY, cluster TEXT NOT NULL);
        CREATE TABLE known (sha256 TEXT PRIMARY KEY);
        CREATE TABLE notified (key TEXT NOT NULL, agency TEXT NOT NULL, others TEXT NOT NULL,
            PRIMARY KEY (key, agency));
        CREATE TABLE release_requests (request_id TEXT PRIMARY KEY, key TEXT NOT NULL,
            owner TEXT NOT NULL, owner_envelope_id TEXT NOT NULL, requested_for TEXT NOT NULL,
            status TEXT NOT NULL, released_to TEXT);
        """
    )
    old.executemany("INSERT INTO pdq VALUES (?, ?)", [(founder, founder), (near, founder)])
    old.executemany(
        "INSERT INTO holdings VALUES (?, ?, ?, ?, ?, '{}')",
        [
            (f"pdq:{founder}", "ES-PN", "e1", 1, founder),
            (f"pdq:{founder}", "DE-BKA", "e2", 0, near),
        ],
    )
    old.execute("INSERT INTO notified VALUES (?, 'DE-BKA', '?')", (f"pdq:{founder}",))
    old.execute(
        "INSERT INTO release_requests VALUES ('r1', ?, 'ES-PN', 'e1', 'DE-BKA', 'PENDING', NULL)",
        (f"pdq:{founder}",),
    )
    old.commit()
    old.close()

    index = HubIndex.open(path)
    (key,) = index.links()
    assert key.startswith("pdq:" + CLUSTER_PREFIX) and founder not in key
    assert {h.agency: h.value for h in index.holdings(key)} == {"ES-PN": founder, "DE-BKA": near}
    assert index.notified_others(key, "DE-BKA") == {"?"}
    assert index.release_request("r1")["key"] == key  # type: ignore[index]
    assert index.current_key(f"pdq:{founder}") == key  # a grant for the old key still resolves
    index.close()
    # Nothing of either hash is left in any key; reopening keeps the same ids.
    db = sqlite3.connect(path)
    keys = [
        str(r[0])
        for query in (
            "SELECT key FROM holdings",
            "SELECT key FROM notified",
            "SELECT key FROM release_requests",
        )
        for r in db.execute(query)
    ]
    clusters = [str(r[0]) for r in db.execute("SELECT cluster FROM pdq")]
    db.close()
    assert not [k for k in keys + clusters if founder in k or near in k]
    reopened = HubIndex.open(path)
    assert set(reopened.links()) == {key}
    reopened.close()
