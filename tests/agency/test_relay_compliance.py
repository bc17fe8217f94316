"""``broker compliance --as EUROPOL``: the answers restricted agencies gave the relaying hub,
and only from the agencies it relayed the order to."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.agency.answers import RECEIPT, record_answer
from broker.agency.batch import Settlement
from broker.agency.control import compliance_table
from broker.agency.ledger import ComplianceLedger, ComplianceRow, RelayedRow
from broker.audit.events import AuditKind
from broker.cli import app
from broker.codec import SchemaStore
from broker.config import Settings
from broker.envelope import Header, OpenedEnvelope
from broker.errors import ValidationError
from broker.home import agency_db
from broker.synthetic import example_dossier
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


def _receipt(holder: str, **over: object) -> OpenedEnvelope:
    """``holder``'s signed (opened) answer to ES-PN's order ``o1``, relayed by the hub."""
    payload = SchemaStore.default().encode(
        RECEIPT,
        {
            "order_id": "o1",
            "action": "RECALL",
            "envelope_id": "e" * 32,
            "owner": "ES-PN",
            "holder": holder,
            "status": "DESTROYED",
            "ground": None,
            "held": True,
            "erased": 1,
            "at": T0,
            "via": HUB,
            "relayed_to": [],
            **over,
        },
    )
    header = Header(
        format_version=2, suite="classic", envelope_id=f"{holder:x<32}"[:32], sender=holder,
        sender_key_id="sig-0001", recipients=[(HUB, "enc-0001")], created_at=T0,
        expires_at=T0 + dt.timedelta(days=1), sequence=1, kind="COMPLIANCE",
        payload_fingerprint=b"\x00" * 8, codes=example_dossier(1).codes.to_avro(),
    )  # fmt: skip
    return OpenedEnvelope(
        header=header, recipient=HUB, recipient_key_id="enc-0001", payload=payload
    )


def test_the_hub_keeps_the_answer_of_the_restricted_agency_it_relayed_the_order_to(
    tmp_path: Path,
) -> None:
    ledger = ComplianceLedger.open(tmp_path / "state.db")
    _relayed(ledger, "DE-BKA")
    work = Settlement()
    record_answer(ledger, agency=HUB, opened=_receipt("DE-BKA"), work=work)
    assert ledger.answers("o1")["DE-BKA"].status == "DESTROYED"
    assert [(e.kind, e.parties, e.envelope_id) for e in work.audit] == [
        (AuditKind.COMPLIANCE, ["ES-PN", "DE-BKA"], "e" * 32)
    ]
    ledger.close()


@pytest.mark.parametrize(
    ("signer", "over"),
    [
        ("IT-PS", {}),  # the hub relayed the order to DE-BKA only
        ("DE-BKA", {"envelope_id": "f" * 32}),  # about another dossier than the order's
        ("DE-BKA", {"owner": "PT-PJ"}),  # in another owner's name
        ("DE-BKA", {"action": "RESTRICT"}),  # answering an action the order did not ask
    ],
)
def test_attack_a_restricted_answer_to_an_order_the_hub_did_not_relay_to_its_signer_is_refused(
    tmp_path: Path, signer: str, over: dict[str, object]
) -> None:
    # An agency signs an answer "via EUROPOL" to fill the hub's ledger and audit with a
    # compliance nobody asked of it (or about a dossier the order is not about).
    ledger = ComplianceLedger.open(tmp_path / "state.db")
    _relayed(ledger, "DE-BKA")
    work = Settlement()
    with pytest.raises(ValidationError, match="did not relay to its signer") as refused:
        record_answer(ledger, agency=HUB, opened=_receipt(signer, **over), work=work)
    assert refused.value.reason == "invalid-payload"
    assert ledger.answers("o1") == {} and work.audit == []
    ledger.close()
