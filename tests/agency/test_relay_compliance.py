"""``broker compliance --as EUROPOL``: the answers restricted agencies gave the relaying hub."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from broker.agency.control import compliance_table
from broker.agency.ledger import ComplianceLedger, ComplianceRow, RelayedRow
from broker.cli import app
from broker.config import Settings
from broker.home import agency_db
from broker.topics import HUB

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
DEADLINE = T0 + dt.timedelta(hours=24)


def _relayed(ledger: ComplianceLedger, holder: str, *, deadline: dt.datetime = DEADLINE) -> None:
    ledger.add_relayed(
        RelayedRow(
            order_id="o1",
            action="RECALL",
            envelope_id="e" * 32,
            owner="ES-PN",
            holder=holder,
            deadline=deadline.timestamp(),
            at=T0.timestamp(),
        )
    )


def test_hub_table_shows_restricted_relayed_agencies_answered_and_overdue(tmp_path: Path) -> None:
    ledger = ComplianceLedger.open(tmp_path / "state.db")
    _relayed(ledger, "DE-BKA")
    _relayed(ledger, "IT-PS")
    _relayed(ledger, "IT-PS")  # a second copy of the order relays nothing new
    ledger.record_compliance(
        ComplianceRow(
            order_id="o1",
            holder="DE-BKA",
            status="DESTROYED",
            ground=None,
            held=True,
            erased=2,
            at=T0.timestamp(),
            receipt_id="r1",
        )
    )
    late = compliance_table(ledger, now=DEADLINE + dt.timedelta(seconds=1))
    ledger.close()
    assert [(ln.holder, ln.status, ln.owner, ln.via) for ln in late] == [
        ("DE-BKA", "DESTROYED", "ES-PN", HUB),
        ("IT-PS", "OVERDUE", "ES-PN", HUB),
    ]


def test_broker_compliance_as_the_hub_lists_them_in_json(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    path = agency_db(settings, HUB)
    path.parent.mkdir(parents=True, exist_ok=True)
    ledger = ComplianceLedger.open(path)
    _relayed(ledger, "DE-BKA", deadline=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # long past
    ledger.close()
    out = CliRunner().invoke(app, ["compliance", "--as", HUB, "--json", "--home", str(tmp_path)])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert (row["holder"], row["owner"], row["via"], row["status"]) == (
        "DE-BKA",
        "ES-PN",
        HUB,
        "OVERDUE",
    )
