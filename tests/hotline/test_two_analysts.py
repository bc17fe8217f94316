"""The two-analyst rule over real hash-list topics: a hash enters the shared list only once
analysts of two different members confirm it; two analysts of ONE member are not enough; a
hash one member confirms and another disputes is quarantined (never matched)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broker.config import Settings
from broker.federation import add_agency, init_federation
from broker.hashlist import ListFollower, ListState, ListUpdate, publish_updates
from broker.hotline.confirm import SHARED_LIST, assessment, plan_shared
from broker.synthetic import media_hash
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_identity, load_trust

pytestmark = pytest.mark.kafka


async def _follow(settings: Settings, conn: KafkaConnection, agency: str) -> ListState:
    state = ListState(sqlite3.connect(":memory:", isolation_level=None), snapshot=None)
    layout = TopicLayout(prefix=settings.topic_prefix)
    async with ListFollower(
        conn=conn, layout=layout, state=state, trust=load_trust(settings), agency=agency
    ) as follower:
        await follower.catch_up(idle_s=1.5)
    return state


async def test_only_hashes_confirmed_by_two_members_enter_the_shared_list(
    tmp_path: Path, kafka_bootstrap: str, unique: str
) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}")
    init_federation(settings, agencies=["ES-PN", "EUROPOL"])
    add_agency(settings, agency="HR-CNZD", kind="hotline", country="HR")
    add_agency(settings, agency="NL-MELD", kind="hotline", country="NL")
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    hr = load_identity(settings, agency="HR-CNZD")
    nl = load_identity(settings, agency="NL-MELD")
    hub = load_identity(settings, agency="EUROPOL")
    both, one_member, disputed = media_hash(1), media_hash(2), media_hash(3)

    def say(who: str, analyst: str, sha: str, *, illegal: bool = True) -> ListUpdate:
        key_id = (hr if who == "HR-CNZD" else nl).signing.key_id
        return assessment(member=who, key_id=key_id, analyst=analyst, sha256=sha, illegal=illegal)

    await publish_updates(
        conn, layout=layout, identity=hr,
        updates=[say("HR-CNZD", "a1", both), say("HR-CNZD", "a1", one_member),
                 say("HR-CNZD", "a1", disputed)],
    )  # fmt: skip
    # A second HR analyst agrees on `one_member`: the same member, still one confirmation.
    await publish_updates(
        conn, layout=layout, identity=hr, updates=[say("HR-CNZD", "a2", one_member)]
    )
    await publish_updates(
        conn, layout=layout, identity=nl,
        updates=[say("NL-MELD", "b1", both), say("NL-MELD", "b1", disputed, illegal=False)],
    )  # fmt: skip

    curator = await _follow(settings, conn, "EUROPOL")
    # The members' own assessments are never matched as known material.
    assert curator.match(sha256=[both, one_member, disputed]) == []
    updates = plan_shared(curator, curator="EUROPOL", key_id=hub.signing.key_id)
    assert {(u.sha256, u.op) for u in updates} == {(both, "ADD"), (disputed, "DISPUTE")}
    assert "HR-CNZD/a1" in (updates[0].note or "") and "NL-MELD/b1" in (updates[0].note or "")
    await publish_updates(conn, layout=layout, identity=hub, updates=updates)

    police = await _follow(settings, conn, "ES-PN")
    hits = police.match(sha256=[both, one_member, disputed])
    assert [(h.entry.list, h.entry.sha256) for h in hits] == [(SHARED_LIST, both)]
    assert plan_shared(police, curator="EUROPOL", key_id=hub.signing.key_id) == []

    # NL-MELD's analyst changes their mind: the confirmed hash is quarantined, stops matching.
    await publish_updates(
        conn, layout=layout, identity=nl, updates=[say("NL-MELD", "b2", both, illegal=False)]
    )
    curator = await _follow(settings, conn, "EUROPOL")
    (quarantine,) = plan_shared(curator, curator="EUROPOL", key_id=hub.signing.key_id)
    assert (quarantine.sha256, quarantine.op) == (both, "DISPUTE")
    await publish_updates(conn, layout=layout, identity=hub, updates=[quarantine])
    police = await _follow(settings, conn, "ES-PN")
    assert police.match(sha256=[both]) == []
