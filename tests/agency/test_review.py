"""The retention sweep's index (``reviews``): it finds exactly what a scan of every stored
dossier finds, follows erasure, and is built for a store written before it existed."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from broker.agency.ledger import ComplianceLedger
from broker.agency.review import due, review_at
from broker.agency.store import AgencyStore
from broker.models.codes import codes_from_json, codes_to_json
from broker.synthetic import example_dossier

DAY = 86_400.0
NOW = dt.datetime(2031, 6, 15, 12, 0, tzinfo=dt.UTC).timestamp()


def _codes(review: dt.date) -> dict[str, Any]:
    return codes_to_json({**example_dossier(1).codes.to_avro(), "retention_review": review})


def _store(db: sqlite3.Connection, n: int, *, rng: random.Random) -> None:
    """``n`` fictitious dossiers received over five years, review dates around NOW."""
    rows = []
    for i in range(n):
        review = dt.date(2031, 6, 15) + dt.timedelta(days=rng.randint(-3, 3))
        received = NOW - rng.uniform(0, 6 * 365 * DAY)
        kind = "DOSSIER" if i % 10 else "RECEIPT"  # only dossiers are reviewed
        provenance = json.dumps({"codes": _codes(review)})
        rows.append((f"{i:032x}", rng.choice(["ES-PN", "IT-PS"]), kind, received, provenance, b""))
    with db:
        db.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)", rows)


def _scan(db: sqlite3.Connection, *, now: float, period: dt.timedelta) -> list[tuple[str, ...]]:
    """Every stored dossier's review worked out one by one: the oracle."""
    extended = {
        (o, e): u for o, e, u in db.execute("SELECT owner, envelope_id, until FROM extended")
    }
    restricted = {
        (o, e): codes_from_json(json.loads(c))
        for o, e, c in db.execute("SELECT owner, envelope_id, codes FROM restricted")
    }
    out = []
    for e, s, received, provenance in db.execute(
        "SELECT envelope_id, sender, received_at, provenance FROM inbox WHERE kind = 'DOSSIER'"
    ):
        codes = restricted.get((s, e)) or codes_from_json(json.loads(provenance)["codes"])
        at = review_at(
            received_at=received, codes=codes, period=period, extended=extended.get((s, e))
        )
        if at <= now:
            out.append((s, e, codes["retention_review"].isoformat()))
    return sorted(out)


def test_the_index_finds_exactly_what_a_scan_of_every_dossier_finds(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = AgencyStore.open(tmp_path / "state.db")
    ledger = ComplianceLedger.open(store.path)
    _store(store._db, 2_000, rng=rng)
    ids = [(s, e) for s, e in ledger.db.execute("SELECT sender, envelope_id FROM inbox")]
    with ledger.db:  # owners restricted some (an earlier review) and extended others
        for s, e in rng.sample(ids, 60):
            codes = _codes(dt.date(2031, 6, 15) + dt.timedelta(days=rng.randint(-2, 2)))
            ledger.db.execute(
                "INSERT OR REPLACE INTO restricted VALUES (?, ?, ?, 'o')", (s, e, json.dumps(codes))
            )
        for s, e in rng.sample(ids, 60):
            until = NOW + rng.uniform(-DAY, DAY)
            ledger.db.execute(
                "INSERT OR REPLACE INTO extended VALUES (?, ?, ?, 'o')", (s, e, until)
            )
    for now in (NOW - 2 * DAY, NOW - DAY / 3, NOW, NOW + DAY / 2, NOW + 3 * DAY):
        for years in (1, 5):
            period = dt.timedelta(days=365 * years)
            expected = _scan(ledger.db, now=now, period=period)
            assert expected  # the comparison is not between two empty lists
            assert sorted(due(ledger.db, now=now, period=period)) == expected
    ledger.close()
    store.close()


def test_an_erased_dossier_leaves_the_index(tmp_path: Path) -> None:
    store = AgencyStore.open(tmp_path / "state.db")
    _store(store._db, 50, rng=random.Random(1))
    before = store._db.execute("SELECT count(*) FROM reviews").fetchone()[0]
    with store._db:
        store._db.execute("DELETE FROM inbox WHERE envelope_id = ?", (f"{1:032x}",))
    assert before == 45  # 50 records, 5 of them receipts
    assert store._db.execute("SELECT count(*) FROM reviews").fetchone()[0] == before - 1
    store.close()


def test_a_store_written_before_the_index_gets_it_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = AgencyStore.open(path)
    _store(store._db, 300, rng=random.Random(3))
    store.close()
    old = sqlite3.connect(path)  # as the previous release left it: version 1, no index
    old.executescript(
        "DROP TRIGGER inbox_reviewed; DROP TRIGGER inbox_unreviewed; DROP TABLE reviews;"
        "PRAGMA user_version = 1;"
    )
    old.close()
    store = AgencyStore.open(path)
    ledger = ComplianceLedger.open(path)
    period = dt.timedelta(days=365)
    assert store._db.execute("SELECT count(*) FROM reviews").fetchone()[0] == 270
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 2
    expected = _scan(ledger.db, now=NOW, period=period)
    assert expected and sorted(due(ledger.db, now=NOW, period=period)) == expected
    ledger.close()
    store.close()
