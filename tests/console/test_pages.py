"""The console's pages over plain HTTP, on stores filled without Kafka: search by selector,
the handling-code banner, and a hub graph that never names a restricted holder."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from broker import home
from broker.agency.store import AgencyStore
from broker.config import Settings
from broker.console import ConsoleConfig, create_app
from broker.console.agency import InboxFilter, inbox_rows
from broker.console.hub import graph_clusters, open_index
from broker.hub import HubIndex
from broker.models.codes import codes_to_json
from broker.topics import HUB
from tests.hub.live import dossier

ORIGIN = "http://127.0.0.1:8765"
PHONE = "+34600999888"


def _receive(settings: Settings, agency: str, sender: str, *, seed: int, restricted: bool) -> str:
    """Store a dossier in ``agency``'s inbox as the inbox consumer would; return its id."""
    d = dossier(seed, restricted=restricted, phone=PHONE if restricted else f"+3460000{seed:04d}")
    envelope_id = secrets.token_hex(16)
    store = AgencyStore.open(home.agency_db(settings, agency))
    try:
        store.accept(
            envelope_id=envelope_id,
            sender=sender,
            sequence=seed,
            expires_at=time.time() + 3600,
            kind="DOSSIER",
            provenance={"codes": codes_to_json(d.codes.to_avro())},
            payload=d.to_bytes(),
        )
    finally:
        store.close()
    return envelope_id


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleConfig(settings=settings, agency="ES-PN", token="t"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as c:
        await c.get("/login", params={"token": "t"})
        yield c


def test_inbox_search_finds_a_dossier_by_selector_handling_and_sender(settings: Settings) -> None:
    plain = _receive(settings, "ES-PN", "DE-BKA", seed=1, restricted=False)
    secret = _receive(settings, "ES-PN", "IT-PS", seed=2, restricted=True)
    assert [r.envelope_id for r in inbox_rows(settings, "ES-PN")] == [secret, plain]
    by_selector = inbox_rows(settings, "ES-PN", InboxFilter(selector=PHONE[-6:]))
    assert [r.envelope_id for r in by_selector] == [secret]
    assert [r.envelope_id for r in inbox_rows(settings, "ES-PN", InboxFilter(handling="H2"))] == [
        secret
    ]
    assert [r.envelope_id for r in inbox_rows(settings, "ES-PN", InboxFilter(sender="DE-BKA"))] == [
        plain
    ]
    assert inbox_rows(settings, "ES-PN", InboxFilter(tlp="RED"))[0].envelope_id == secret
    assert inbox_rows(settings, "ES-PN", InboxFilter(date_to="2000-01-01")) == []


async def test_dossier_page_shows_the_h2_and_red_banners(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    secret = _receive(settings, "ES-PN", "IT-PS", seed=2, restricted=True)
    plain = _receive(settings, "ES-PN", "DE-BKA", seed=1, restricted=False)
    page = (await client.get(f"/dossier/IT-PS/{secret}")).text
    assert page.count('class="banner"') == 2 and "H2: not to be disseminated" in page
    assert "TLP:RED" in page and 'class="tlp tlp-red"' in page
    assert 'class="banner"' not in (await client.get(f"/dossier/DE-BKA/{plain}")).text
    found = (await client.get("/api/inbox", params={"selector": PHONE})).json()["rows"]
    assert [r["envelope_id"] for r in found] == [secret] and found[0]["restricted"] is True
    # an envelope id of another sender is not this dossier
    assert (await client.get(f"/dossier/DE-BKA/{secret}")).status_code == 404


def test_hub_graph_shows_a_restricted_holder_only_as_permission_required(
    settings: Settings,
) -> None:
    path = home.hub_db(settings, HUB)
    index = HubIndex.open(path)
    index.add(dossier(1, restricted=True), agency="ES-PN", envelope_id="e1")
    index.add(dossier(2, restricted=False), agency="DE-BKA", envelope_id="e2")
    index.close()
    with open_index(path) as idx:
        (cluster,) = graph_clusters(idx)
    labels = sorted(n.label for n in cluster.nodes)
    assert labels == ["DE-BKA", "permission required", "phone"]
    assert cluster.agencies == ["DE-BKA", "permission required"]
    assert not any("ES-PN" in n.title or "e1" in n.title for n in cluster.nodes)
