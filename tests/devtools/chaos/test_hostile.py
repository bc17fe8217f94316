"""Each hostile kind is refused by the real verifier and router check with the reason expected.

Offline (no Kafka): the same :class:`HostileForge` the attack scenario uses, checked
against :class:`broker.envelope.Verifier` (the consumer's opener, plus the replay
store) and :class:`broker.router.EnvelopeCheck` (the router), so the mapping of
kind to reason in the scenario is what the code actually produces.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import pytest

from broker.agency.store import AgencyStore
from broker.config import Settings
from broker.devtools.chaos.harness import RECIPIENT, ChaosNetwork
from broker.devtools.chaos.hostile import KINDS, HostileForge
from broker.envelope import Verifier
from broker.errors import Error
from broker.local import LocalCluster
from broker.router import EnvelopeCheck
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_identity, load_trust


class _NoCluster:
    bootstrap = "127.0.0.1:9"

    def connection(self) -> KafkaConnection:
        return KafkaConnection(bootstrap=self.bootstrap)


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChaosNetwork, HostileForge]:
    home = tmp_path_factory.mktemp("hostile")
    settings = Settings(home=home, kafka_bootstrap="127.0.0.1:9", topic_prefix="h")
    net = ChaosNetwork.on_disk(cluster=cast(LocalCluster, _NoCluster()), settings=settings)
    delivered = [net.seal_dossier(to=[RECIPIENT])[1] for _ in range(3)]
    return net, HostileForge(net=net, replay_pool=delivered)


def _consumer_reason(net: ChaosNetwork, store: AgencyStore, value: bytes) -> str | None:
    """What DE-BKA's consumer refuses ``value`` with (None: it would be handled)."""
    identity = load_identity(net.settings, agency=RECIPIENT)
    try:
        opened = Verifier(trust=load_trust(net.settings)).open(value, identity=identity)
        store.check_fresh(sender=opened.header.sender, envelope_id=opened.header.envelope_id)
    except Error as exc:
        return exc.reason
    return None


def _router_reason(net: ChaosNetwork, topic: str, value: bytes) -> str | None:
    check = EnvelopeCheck(trust=load_trust(net.settings))
    try:
        check(value, outbox_owner=TopicLayout(prefix="h").agency_of_outbox(topic))
    except Error as exc:
        return exc.reason
    return None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("into_inbox", [True, False], ids=["inbox", "outbox"])
def test_hostile_kind_is_refused_with_its_expected_reason(
    forged: tuple[ChaosNetwork, HostileForge], kind: str, into_inbox: bool, tmp_path: Path
) -> None:
    net, forge = forged
    store = AgencyStore.open(tmp_path / "state.db")
    try:
        for delivered in forge._replays:  # the replay pool was delivered before
            opened = Verifier(trust=load_trust(net.settings)).verify(delivered)
            store.accept(
                envelope_id=opened.envelope_id,
                sender=opened.sender,
                sequence=1,
                expires_at=time.time() + 3600,
                kind="DOSSIER",
                provenance={},
                payload=b"",
            )
        for index in (0, 14, 28, 42):  # both downgrade variants
            record = forge.make(kind, into_inbox=into_inbox, index=index)
            if record.topic.startswith("h.inbox."):
                got = _consumer_reason(net, store, record.value)
            else:
                got = _router_reason(net, record.topic, record.value)
                if got is None:  # routed: the recipient's consumer must refuse it
                    got = _consumer_reason(net, store, record.value)
            assert got == record.expected, (kind, index, record.topic)
    finally:
        store.close()
