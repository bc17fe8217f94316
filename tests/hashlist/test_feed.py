"""ListFollower.catch_up on a real broker: "caught up" means read to the lists' end offsets,
not "a short silence": on a loaded machine the next fetch can take longer than the idle
window, and the follower then acted on part of a list."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broker.config import Settings
from broker.federation import add_agency, init_federation
from broker.hashlist import ListFollower, ListState, publish_updates
from broker.hotline.confirm import assessment
from broker.synthetic import media_hash
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_identity, load_trust

pytestmark = pytest.mark.kafka

UPDATES = 2_000


async def test_catch_up_reads_to_the_end_even_when_the_idle_window_is_shorter_than_a_fetch(
    tmp_path: Path, kafka_bootstrap: str, unique: str
) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}")
    init_federation(settings, agencies=["ES-PN", "EUROPOL"])
    add_agency(settings, agency="HR-CNZD", kind="hotline", country="HR")
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    hr = load_identity(settings, agency="HR-CNZD")
    updates = [
        assessment(member="HR-CNZD", key_id=hr.signing.key_id, analyst="a1",
                   sha256=media_hash(n), illegal=True)
        for n in range(UPDATES)
    ]  # fmt: skip
    await publish_updates(conn, layout=layout, identity=hr, updates=updates)

    state = ListState(sqlite3.connect(":memory:", isolation_level=None), snapshot=None)
    async with ListFollower(
        conn=conn, layout=layout, state=state, trust=load_trust(settings), agency="EUROPOL"
    ) as follower:
        # No idle window at all: a follower that stopped on the first empty poll would stop after
        # the first fetch (2,000 signed updates take several).
        taken = await follower.catch_up(idle_s=0.0)
    assert taken == UPDATES
    assert follower.applied == UPDATES
    assert follower.rejected == 0
