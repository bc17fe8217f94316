"""The chaos table, JSON and the hostile-record tally (no Kafka needed)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from broker.cli import app
from broker.deadletter import DeadLetter
from broker.devtools.chaos import SCENARIOS, Sizes, run_chaos
from broker.devtools.chaos.hostile import HostileRecord, tally_rejections
from broker.devtools.chaos.report import ScenarioResult, render_json, render_table
from broker.errors import ConfigError


def _letter(value: bytes, reason: str) -> DeadLetter:
    return DeadLetter.for_record(
        original=value,
        key=None,
        topic="t.inbox.DE-BKA",
        partition=0,
        offset=0,
        stage="CONSUMER",
        rejected_by="DE-BKA",
        reason=reason,
    )


def _hostile(value: bytes, expected: str, kind: str = "random-bytes") -> HostileRecord:
    return HostileRecord(kind=kind, topic="t.inbox.DE-BKA", value=value, expected=expected)


def test_json_has_the_required_keys_per_scenario() -> None:
    results = [ScenarioResult(scenario="a", sent=2, delivered=2), ScenarioResult(scenario="b")]
    doc = json.loads(render_json(results))
    assert [d["scenario"] for d in doc] == ["a", "b"]
    for d in doc:
        assert {"scenario", "sent", "delivered", "lost", "duplicated", "hostile_accepted"} <= set(d)
        assert d["ok"] is True


def test_a_lost_duplicated_or_accepted_record_fails_the_scenario() -> None:
    assert not ScenarioResult(scenario="x", sent=2, delivered=1, lost=1).ok
    assert not ScenarioResult(scenario="x", sent=2, delivered=2, duplicated=1).ok
    assert not ScenarioResult(scenario="x", hostile=1, hostile_accepted=1).ok
    assert not ScenarioResult(scenario="x", hostile=2, rejected_ok=1, rejected_wrong_reason=1).ok
    assert not ScenarioResult(scenario="x", crashes=1).ok
    table = render_table([ScenarioResult(scenario="x", sent=2, delivered=1, lost=1)])
    assert "FAIL" in table.splitlines()[1]


def test_tally_matches_by_hash_and_checks_the_reason() -> None:
    injected = [_hostile(b"a", "malformed"), _hostile(b"b", "malformed"), _hostile(b"c", "expired")]
    letters = [_letter(b"a", "malformed"), _letter(b"b", "bad-signature"), _letter(b"z", "x")]
    tally = tally_rejections(letters, injected)
    assert (tally.injected, tally.rejected_ok, tally.wrong_reason, tally.not_rejected) == (
        3,
        1,
        1,
        1,
    )
    assert tally.unexpected_letters == 1
    assert tally.by_kind["random-bytes"] == {
        "malformed": 1,
        "WRONG:bad-signature": 1,
        "NOT-REJECTED": 1,
    }


def test_identical_hostile_records_need_one_dead_letter_each() -> None:
    replay = _hostile(b"same", "replayed", kind="replay")
    tally = tally_rejections([_letter(b"same", "replayed")], [replay, replay])
    assert (tally.rejected_ok, tally.not_rejected) == (1, 1)


def test_cli_lists_every_scenario_and_refuses_an_unknown_one() -> None:
    result = CliRunner().invoke(app, ["chaos", "--help"])
    assert result.exit_code == 0
    for name in SCENARIOS:
        assert name in result.output.replace("\n", "").replace(" ", "").replace("│", "")
    with pytest.raises(ConfigError):
        asyncio.run(run_chaos(sizes=Sizes.quick(), names=["no-such-scenario"]))
