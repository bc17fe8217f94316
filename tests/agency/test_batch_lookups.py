"""The inbox's per-batch look-ups answer exactly what the per-envelope ones did.

One query per fetched batch finds the recalled envelopes (recall tombstones) and the
at-rest keys of the payloads it stores; these tests check the answers, including
batches larger than one query's share of SQLite variables and several senders.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

import pytest

from broker._internal.sqlite import rows_among
from broker.agency.atrest import AtRestVault
from broker.agency.ledger import ComplianceLedger
from broker.agency.recall import ControlDesk
from broker.agency.store import AgencyStore
from broker.audit.writer import AuditSink
from broker.envelope import OpenedEnvelope
from broker.envelope.format import Header
from broker.errors import RecalledError
from broker.synthetic import example_dossier

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _header(sender: str, envelope_id: str) -> Header:
    return Header(
        format_version=2,
        suite="classic",
        envelope_id=envelope_id,
        sender=sender,
        sender_key_id="sig-0001",
        recipients=[("DE-BKA", "enc-0001")],
        created_at=T0,
        expires_at=T0 + dt.timedelta(days=1),
        sequence=1,
        kind="DOSSIER",
        payload_fingerprint=b"\x00" * 8,
        codes=example_dossier(1).codes.to_avro(),
    )


def test_a_replayed_copy_of_a_recalled_envelope_is_refused_by_the_batch_lookup(
    tmp_path: Path,
) -> None:
    store = AgencyStore.open(tmp_path / "state.db")
    desk = ControlDesk(
        agency="DE-BKA",
        ledger=ComplianceLedger.open(store.path),
        publisher=cast(Any, None),  # nothing is sent here
        audit=AuditSink(None),
    )
    ids = [f"{i:032x}" for i in range(1200)]  # more than one query's 500 ids
    recalled = {("ES-PN", e) for e in ids[::7]} | {("IT-PS", ids[3])}
    for owner, envelope_id in sorted(recalled):
        desk._erase(owner, envelope_id, f"o-{owner}-{envelope_id}")
    batch = [_header("ES-PN", e) for e in ids] + [_header("IT-PS", e) for e in ids[:5]]
    among = desk.recalled_among(batch_opened(batch))
    assert among == recalled
    for header in batch:  # the batch's answer and the single look-up agree on every envelope
        key = (header.sender, header.envelope_id)
        for kwargs in ({"among": among}, {}):
            if key in recalled:
                with pytest.raises(RecalledError) as refused:
                    desk.refuse_recalled(header, **kwargs)
                assert refused.value.reason == "recalled"
            else:
                desk.refuse_recalled(header, **kwargs)
    desk.ledger.close()
    store.close()


def batch_opened(headers: list[Header]) -> list[OpenedEnvelope]:
    """Opened envelopes as far as the recall look-up reads them (their headers)."""
    return [
        OpenedEnvelope(header=h, recipient="DE-BKA", recipient_key_id="enc-0001", payload=b"")
        for h in headers
    ]


def test_a_payload_sealed_again_reuses_its_key_and_each_payload_has_its_own(
    tmp_path: Path,
) -> None:
    vault = AtRestVault.open(tmp_path / "atrest-keys.db")
    items = [("ES-PN", f"{i:032x}", f"dossier {i}".encode()) for i in range(700)]
    items += [("IT-PS", "f" * 32, b"other sender")]
    first = vault.seal_many(items)
    again = vault.seal_many([items[5], items[600]])  # the same deliveries after a crash
    for (sender, envelope_id, payload), sealed in zip(items, first, strict=True):
        assert vault.unseal(sender, envelope_id, sealed) == payload
    redone = [(items[5], again[0]), (items[600], again[1])]
    assert [vault.unseal(s, e, x) for (s, e, _), x in redone] == [items[5][2], items[600][2]]
    rows = list(
        rows_among(
            vault._db,
            select="envelope_id, key FROM atrest_keys",
            where=("sender", "envelope_id"),
            keys=[(s, e) for s, e, _ in items],
        )
    )
    assert sorted((s, row[0]) for s, row in rows) == sorted((s, e) for s, e, _ in items)
    assert len({row[1] for _, row in rows}) == len(items)  # a key per payload, none shared
    vault.close()
