"""Every chaos scenario, shortened, on a real cluster: 0 lost, 0 duplicated, 0 hostile accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.devtools.chaos.hostile import KINDS
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios import Context
from broker.devtools.chaos.scenarios.accept import kill_after_accept
from broker.devtools.chaos.scenarios.acl import acl_probe
from broker.devtools.chaos.scenarios.brokers import broker_kill, broker_pause
from broker.devtools.chaos.scenarios.hostile import hostile_input
from broker.devtools.chaos.scenarios.load import sustained_load
from broker.devtools.chaos.scenarios.parts import hostile_parts
from broker.devtools.chaos.scenarios.processes import process_kills
from broker.local import LocalCluster
from tests.devtools.chaos.conftest import TINY

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _assert_nothing_lost(result: ScenarioResult) -> None:
    assert result.error is None, result.notes
    assert result.sent > 0
    assert result.lost == 0, result.notes
    assert result.duplicated == 0, result.notes
    assert result.delivered == result.sent
    assert result.hostile_accepted == 0, result.notes
    assert result.crashes == 0, result.notes
    assert result.ok


async def test_sigkilled_broker_loses_and_duplicates_no_dossier(chaos: Context) -> None:
    result = await broker_kill(chaos)
    _assert_nothing_lost(result)
    assert result.sent == TINY.broker_kill_dossiers
    assert result.recover_s is not None


async def test_sigstopped_broker_loses_and_duplicates_no_dossier(chaos: Context) -> None:
    result = await broker_pause(chaos)
    _assert_nothing_lost(result)
    assert result.recover_s is not None


async def test_router_consumer_and_hub_sigkilled_lose_and_duplicate_nothing(
    chaos: Context,
) -> None:
    result = await process_kills(chaos, seed=8)
    _assert_nothing_lost(result)
    assert "router 1, inbox-DE-BKA 1, hub 1" in result.notes[-1]
    assert result.recover_s is not None


async def test_inbox_sigkilled_between_batch_commit_and_handlers_hands_each_over_once(
    chaos: Context,
) -> None:
    result = await kill_after_accept(chaos, seed=3)
    _assert_nothing_lost(result)
    assert "killed after accept_many 1 time(s)" in result.notes[-1]


async def test_sustained_load_delivers_everything_with_bounded_rss(chaos: Context) -> None:
    result = await sustained_load(chaos)
    _assert_nothing_lost(result)
    assert result.sent == int(TINY.load_rate * TINY.load_s)
    assert {"router", "inbox-DE-BKA", "kafka-1", "kafka-2", "kafka-3"} <= set(result.peak_rss_mib)
    assert result.peak_rss_mib["router"] < 1024
    assert result.peak_rss_mib["inbox-DE-BKA"] < 1024


async def test_every_hostile_record_is_refused_with_its_reason(chaos: Context) -> None:
    result = await hostile_input(chaos)
    _assert_nothing_lost(result)
    assert result.hostile == TINY.hostile
    assert result.rejected_ok == TINY.hostile
    assert result.rejected_wrong_reason == 0
    assert result.not_rejected == 0
    assert set(result.reasons) == set(KINDS)
    assert result.reasons["random-bytes"] == {"malformed": 50}
    assert result.reasons["replay"] == {"replayed": 50}
    assert result.reasons["expired"] == {"expired": 50}
    assert result.reasons["revoked-key"] == {"key-revoked": 50}
    assert result.reasons["mutated"] == {"bad-signature": 50}
    assert result.reasons["other-agency"] == {"not-a-recipient": 25, "bad-signature": 25}
    downgraded = result.reasons["downgraded-suite"]
    assert set(downgraded) == {"bad-signature", "unsupported-suite"}
    assert sum(downgraded.values()) == 50
    # The audit log records each rejection (replayed and verified from fed.audit).
    assert result.dead_letters is not None and result.dead_letters >= TINY.hostile
    assert result.audited_rejections == result.dead_letters


async def test_agency_certificate_cannot_do_anything_forbidden(
    kafka_tls_cluster: LocalCluster, tmp_path: Path
) -> None:
    ctx = Context(cluster=kafka_tls_cluster, workdir=tmp_path, sizes=TINY, say=lambda _: None)
    result = await acl_probe(ctx, agencies=["ES-PN", "DE-BKA"])
    assert result.error is None, result.notes
    assert result.sent == 12  # 10 topic operations, 1 consumer group, 1 transactional id
    assert result.hostile_accepted == 0, result.notes
    assert result.rejected_ok == result.sent
    assert result.ok


async def test_every_hostile_part_stream_is_refused_with_its_reason(chaos: Context) -> None:
    result = await hostile_parts(chaos)
    _assert_nothing_lost(result)
    assert result.reasons == {
        "missing-part": {"incomplete": 1},
        "duplicated-part": {"duplicate-part": 1},
        "reordered-parts": {"part-mismatch": 1},
        "truncated-stream": {"incomplete": 1},
        "substituted-part": {"part-mismatch": 1},
        "foreign-part": {"part-mismatch": 1},
    }
    assert (result.rejected_ok, result.rejected_wrong_reason, result.not_rejected) == (6, 0, 0)
    assert result.audited_rejections == result.dead_letters == 6
