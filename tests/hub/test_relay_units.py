"""Whom the hub relays an owner's order to, without Kafka: every agency told of the owner's
holding, and only those; a restricted one answers the hub and is not named to the owner."""

from __future__ import annotations

from pathlib import Path

from broker.agency.relay import RELAYED
from broker.codec import SchemaStore
from broker.hub import HubIndex
from broker.hub.relay import relay_copies
from broker.topics import HUB
from tests.hub.live import PHONE, dossier

KEY = f"phone:{PHONE}"


def test_restricted_agency_told_of_the_owner_answers_the_hub_and_is_not_named(
    tmp_path: Path,
) -> None:
    index = HubIndex.open(tmp_path / "hub.db")
    index.add(dossier(1, restricted=False), agency="ES-PN", envelope_id="a" * 32)
    index.add(dossier(2, restricted=True), agency="DE-BKA", envelope_id="b" * 32)
    index.add(dossier(3, restricted=False), agency="IT-PS", envelope_id="c" * 32)
    index.add(dossier(4, restricted=False), agency="PT-PJ", envelope_id="d" * 32)
    index.mark_notified(KEY, "DE-BKA", {"ES-PN", "IT-PS", "PT-PJ"})  # restricted, told of ES-PN
    index.mark_notified(KEY, "IT-PS", {"ES-PN", "PT-PJ", "?"})
    index.mark_notified(KEY, "PT-PJ", {"IT-PS", "?"})  # never told of ES-PN: nothing to relay

    copies = relay_copies(index, {"owner": "ES-PN", "envelope_id": "a" * 32, "relay": b"signed"})

    store = SchemaStore.default()
    got = {c.to: (c.named, store.decode(RELAYED, c.payload)) for c in copies}
    assert sorted(got) == ["DE-BKA", "IT-PS"]
    assert got["DE-BKA"][0] is False and got["DE-BKA"][1]["answer_to"] == HUB
    assert got["IT-PS"][0] is True and got["IT-PS"][1]["answer_to"] == "ES-PN"
    for _, relayed in got.values():
        assert relayed["signed_order"] == b"signed" and relayed["hit_keys"] == [KEY]
    index.close()
