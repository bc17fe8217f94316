"""A small federation on the real broker for hub tests, and the hub's leak check.

:func:`assert_hub_names_no_restricted_holder` reads EVERY message the hub sent to
each agency — the decrypted payload and provenance the agency stored, and the
raw records of its inbox topic — and fails if one carries anything of another
agency's restricted holding (its id, its envelope ids, its exact hashes) that
the holder did not release to that agency.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.agency import AgencyNode
from broker.agency.store import InboxItem
from broker.audit.events import ROUTER_STREAM
from broker.audit.writer import load_audit_log
from broker.codec import SchemaStore
from broker.config import Settings
from broker.federation import init_federation
from broker.hashlist import ListFollower, ListUpdate, publish_updates
from broker.home import hub_db
from broker.hub import Hub, HubIndex
from broker.models import Dossier
from broker.router import EnvelopeCheck, Router
from broker.synthetic import example_dossier
from broker.topics import HUB, TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust import load_identity, load_trust
from tests.kafka_helpers import read_all

AGENCIES = ["ES-PN", "DE-BKA", "IT-PS", "PT-PJ", HUB]
PHONE = "+447700900888"
STORE = SchemaStore.default()
SCHEMAS = {
    "HIT_NOTIFICATION": "eu.fed.HitNotification",
    "RELEASE_REQUEST": "eu.fed.ReleaseRequest",
}
#: Rounds of an idle-bounded run before a helper gives up waiting for what it expects.
ROUNDS = 8


@dataclass
class Fed:
    """Settings, connection and the hub's index of one test federation."""

    settings: Settings
    conn: KafkaConnection
    layout: TopicLayout
    index: HubIndex
    #: Records the router and the hub consumed so far, and how many the test expects.
    routed: int = 0
    route_target: int = 0
    hub_taken: int = 0
    hub_target: int = 0

    def node(self, agency: str) -> AgencyNode:
        return AgencyNode.load(self.settings, agency=agency, conn=self.conn)

    async def route(self, *, expect: int) -> None:
        """Run the router until it has consumed ``expect`` more records than asked before.

        Counts are cumulative, so records consumed early by one call count for the next.
        """
        self.route_target += expect
        for _ in range(ROUNDS):
            if self.routed >= self.route_target:
                return
            router = Router(
                conn=self.conn,
                layout=self.layout,
                check=EnvelopeCheck(trust=load_trust(self.settings)),
                transactional_id=f"{self.layout.router_group}.hubtest",
                audit=load_audit_log(self.settings, stream=ROUTER_STREAM, conn=self.conn),
            )
            self.routed += (await router.run(until_idle=1.5)).consumed
        if self.routed >= self.route_target:
            return
        raise AssertionError(f"router consumed {self.routed} records, expected {self.route_target}")

    async def hub(self, *, expect: int) -> Hub:
        """Run the hub until it has taken ``expect`` more deliveries (cumulative, as above)."""
        self.hub_target += expect
        node = self.node(HUB)
        hub = Hub(node=node, index=self.index)
        async with node:
            for _ in range(ROUNDS):
                if self.hub_taken >= self.hub_target:
                    return hub
                stats = await node.consume(
                    handler=hub.on_delivery, until_idle=1.5, send_receipts=False
                )
                self.hub_taken += stats.delivered + stats.rejected
        if self.hub_taken >= self.hub_target:
            return hub
        raise AssertionError(f"hub took {self.hub_taken} deliveries, expected {self.hub_target}")

    async def follow_lists(self) -> ListFollower:
        """Apply every hash-list update published so far to the hub's index (one catch-up)."""
        follower = ListFollower(
            conn=self.conn,
            layout=self.layout,
            state=self.index.lists.state,
            trust=load_trust(self.settings),
            agency=HUB,
        )
        async with follower:
            await follower.catch_up(idle_s=1.5)
        return follower

    async def publish_list(self, owner: str, updates: list[ListUpdate]) -> None:
        """Sign and publish hash-list updates as ``owner``."""
        identity = load_identity(self.settings, agency=owner)
        await publish_updates(self.conn, layout=self.layout, identity=identity, updates=updates)

    async def received(self, agency: str, *, expect: int = 0) -> list[InboxItem]:
        """Consume until ``agency`` holds ``expect`` items in all; return every item."""
        async with self.node(agency) as node:
            for _ in range(ROUNDS):  # at least once: take what has arrived
                await node.consume(until_idle=1.5, send_receipts=False)
                if len(node.store.inbox()) >= expect:
                    break
            items = node.store.inbox()
        assert len(items) >= expect, f"{agency} holds {len(items)} items, expected {expect}"
        return items

    async def inbox(self, agency: str, kind: str, *, expect: int = 0) -> list[dict[str, Any]]:
        """Decoded messages of ``kind`` received by ``agency`` (waiting for ``expect`` of them)."""
        async with self.node(agency) as node:
            for _ in range(ROUNDS):  # at least once: take what has arrived
                await node.consume(until_idle=1.5, send_receipts=False)
                if len(node.store.inbox(kind=kind)) >= expect:
                    break
            items = node.store.inbox(kind=kind)
        assert len(items) >= expect, f"{agency} holds {len(items)} {kind}, expected {expect}"
        return [STORE.decode(SCHEMAS[kind], i.payload) for i in items]

    async def grant(self, sender: str, request: dict[str, Any], release_to: list[str]) -> None:
        """Publish a ``ReleaseGrant`` as ``sender``, bypassing the owner-side checks."""
        payload = STORE.encode(
            "eu.fed.ReleaseGrant",
            {
                "request_id": request["request_id"],
                "hit_key": request["hit_key"],
                "release_to": release_to,
                "at": dt.datetime.now(dt.UTC),
            },
        )
        codes = dossier(1, restricted=True).codes.to_avro()
        async with self.node(sender) as node:
            await node.publish(payload, kind="RELEASE_GRANT", codes=codes, to=[HUB])


@asynccontextmanager
async def federation(home: Path, *, kafka_bootstrap: str, prefix: str) -> AsyncIterator[Fed]:
    """A fresh federation in ``home``, its topics (``prefix``) on the Kafka, and a hub index."""
    settings = Settings(home=home, kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix)
    init_federation(settings, agencies=AGENCIES)
    conn = KafkaConnection(bootstrap=kafka_bootstrap, client_id="tests")
    layout = TopicLayout(prefix=settings.topic_prefix)
    await ensure_topics(conn, layout=layout, agencies=AGENCIES, partitions=1)
    index = HubIndex.open(hub_db(settings, HUB))
    try:
        yield Fed(settings=settings, conn=conn, layout=layout, index=index)
    finally:
        index.close()


def dossier(seed: int, *, restricted: bool, phone: str = PHONE, pdq: str | None = None) -> Dossier:
    """A one-person dossier holding ``phone`` (and a PDQ-hashed image), restricted or not."""
    doc = example_dossier(seed).model_dump()
    doc["persons"] = doc["persons"][:1]
    doc["persons"][0]["selectors"] = [{"type": "PHONE_E164", "value": phone, "platform": None}]
    doc["persons"][0]["documents"], doc["groups"], doc["devices"] = [], [], []
    doc["media"] = (
        [
            {
                "sha256": f"{seed:064x}",
                "category": "C",
                "perceptual_hash": pdq,
                "perceptual_algorithm": "PDQ",
            }
        ]
        if pdq
        else []
    )
    doc["codes"]["handling"], doc["codes"]["tlp"] = (
        (["H0", "H2"], "RED") if restricted else (["H0"], "GREEN")
    )
    return Dossier.model_validate(doc)


@dataclass(frozen=True, kw_only=True)
class Holder:
    """What a leak of one agency's holding would show: its id, envelope ids, exact hashes."""

    agency: str
    restricted: bool
    envelope_ids: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()

    def secrets(self) -> list[bytes]:
        out = [self.agency, *self.envelope_ids]
        out += [form for h in self.hashes for form in (h.lower(), h.upper())]
        return [s.encode() for s in out]


async def consume_until(
    node: AgencyNode, done: Callable[[], bool], *, send_receipts: bool = True
) -> None:
    """Consume ``node``'s inbox in idle-bounded rounds until ``done()`` (a loaded machine)."""
    for _ in range(ROUNDS):
        await node.consume(until_idle=1.5, send_receipts=send_receipts)
        if done():
            return
    raise AssertionError(f"{node.agency}: what the test waits for never arrived")


async def assert_hub_names_no_restricted_holder(
    fed: Fed,
    holders: Iterable[Holder],
    *,
    released: Iterable[tuple[str, str]] = (),
) -> int:
    """Check every message the hub sent; return how many were checked.

    No message to agency X carries a restricted holder Y's id or envelope ids unless
    ``(Y, X)`` is in ``released`` (Y granted it), and no message to X ever carries
    another agency's exact hash (every holder's ``hashes``, restricted or not).
    """
    holders = list(holders)
    allowed = set(released)
    checked = 0
    for x in AGENCIES:
        if x == HUB:
            continue
        forbidden: list[bytes] = []
        for y in holders:
            if y.agency == x:
                continue
            if y.restricted and (y.agency, x) not in allowed:
                forbidden += y.secrets()
            else:
                forbidden += [form.encode() for h in y.hashes for form in (h.lower(), h.upper())]
        mine = {h for y in holders if y.agency == x for h in y.hashes}
        forbidden = [f for f in forbidden if f.decode().lower() not in mine]
        items = [i for i in await fed.received(x) if i.sender == HUB]
        raw = await read_all(fed.conn, fed.layout.inbox(x), expect=len(items))
        texts = [i.payload + json.dumps(i.provenance).encode() for i in items] + raw
        for text in texts:
            leaked = [f.decode() for f in forbidden if f in text]
            assert leaked == [], f"the hub sent {x} {leaked}"
        checked += len(items)
    return checked
