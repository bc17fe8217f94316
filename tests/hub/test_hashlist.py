"""Hash lists on the real broker: updates, withdrawal, forgery, quarantine, a seizure summary."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from broker._internal.framing import frame
from broker.codec import SchemaStore
from broker.deadletter import DeadLetter
from broker.errors import HashListError, ListSignatureError
from broker.hashlist import ListUpdate
from broker.hashlist.update import ML_DSA_CONTEXT, UPDATE_TAG, next_version
from broker.home import hub_db
from broker.hub import HubIndex
from broker.matching.pdq import to_hex
from broker.models import Dossier
from broker.topics import HUB
from broker.trust import load_identity
from tests.hub.live import Fed, dossier
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.kafka

CENTRE = "5a" * 32


def _flip(hex_hash: str, bits: range) -> str:
    value = int(hex_hash, 16)
    for b in bits:
        value ^= 1 << b
    return f"{value:064x}"


def _media_dossier(seed: int, media: Sequence[tuple[str, str | None]], *, phone: str) -> Dossier:
    """A dossier holding ``phone`` and media ``(sha256, pdq or None)``."""
    doc = dossier(seed, restricted=False, phone=phone).model_dump()
    doc["media"] = [
        {
            "sha256": sha,
            "category": "C",
            "perceptual_hash": pdq,
            "perceptual_algorithm": "PDQ" if pdq else None,
            "perceptual_quality": 90 if pdq else None,
        }
        for sha, pdq in media
    ]
    return Dossier.model_validate(doc)


def _entry(fed: Fed, owner: str, entry_id: str, **hashes: Any) -> ListUpdate:
    key_id = _key_id(fed, owner)
    return ListUpdate(
        list="hotline", owner=owner, key_id=key_id, entry_id=entry_id, version=next_version(),
        op="ADD", category="A", series="series-7", source="hotline report 12", **hashes,
    )  # fmt: skip


_KEY_IDS: dict[tuple[str, str], str] = {}


def _key_id(fed: Fed, owner: str) -> str:
    key = (str(fed.settings.home), owner)
    if key not in _KEY_IDS:
        _KEY_IDS[key] = load_identity(fed.settings, agency=owner).signing.key_id
    return _KEY_IDS[key]


def _signed_by(agency: str, fed: Fed, update: ListUpdate, topic: str) -> bytes:
    """Sign ``update`` with ``agency``'s keys whatever owner it names (what an attacker can do)."""
    identity = load_identity(fed.settings, agency=agency)
    store = SchemaStore.default()
    body = store.encode("eu.fed.hashlist.ListUpdate", update.record())
    message = frame(UPDATE_TAG, topic.encode(), body)
    return store.encode(
        "eu.fed.hashlist.SignedListUpdate",
        {
            "body": body,
            "ed25519": identity.signing.ed25519.sign(message),
            "ml_dsa_65": identity.signing.ml_dsa_65.sign(message, context=ML_DSA_CONTEXT),
        },
    )


async def test_list_update_reaches_the_hub_and_a_withdrawal_stops_matching(fed: Fed) -> None:
    listed = f"{0xAB:064x}"
    entry = _entry(fed, "IT-PS", "e-1", sha256=listed)
    await fed.publish_list("IT-PS", [entry])
    follower = await fed.follow_lists()
    assert follower.applied == 1 and follower.rejected == 0

    async with fed.node("ES-PN") as es:
        await es.publish_dossier(
            _media_dossier(1, [(listed, None)], phone="+447700900501"), to=[HUB]
        )
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=1)
    (note,) = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=1)
    assert note["known_material"] and note["selector_value"] == listed
    ((match,),) = [m["lists"] for m in note["matches"]]
    assert (match["list"], match["list_owner"], match["entry_id"]) == ("hotline", "IT-PS", "e-1")
    assert (match["category"], match["series"], match["status"]) == ("A", "series-7", "ADD")
    assert note["list_counts"] == [
        {"list": "hotline", "list_owner": "IT-PS", "category": "A", "count": 1}
    ]

    await fed.publish_list("IT-PS", [entry.then("WITHDRAW", note="not CSAM after review")])
    await fed.follow_lists()
    assert fed.index.lists.state.match(sha256=[listed]) == []
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(
            _media_dossier(2, [(listed, None)], phone="+447700900502"), to=[HUB]
        )
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=2)  # the link ES-PN <-> DE-BKA on the hash, to each owner
    de_notes = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=1)
    assert [n["known_material"] for n in de_notes] == [False]  # a link, no longer known material
    assert not fed.index.known_key(f"sha256:{listed}")


async def test_list_update_forged_by_another_agency_is_dead_lettered_not_applied(fed: Fed) -> None:
    await fed.publish_list("IT-PS", [_entry(fed, "IT-PS", "e-real", sha256="ef" * 32)])
    topic = fed.layout.hashlist("IT-PS", "hotline")
    # DE-BKA claims to be IT-PS (signing with its own key) ...
    claimed = dataclasses.replace(
        _entry(fed, "DE-BKA", "e-forged", sha256="cd" * 32), owner="IT-PS"
    )
    # ... and writes its own, well-signed update of DE-BKA's list into IT-PS's topic.
    own = _entry(fed, "DE-BKA", "e-moved", sha256="cd" * 32)
    producer = fed.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value=_signed_by("DE-BKA", fed, claimed, topic), key=b"e-forged"
        )
        own_topic = fed.layout.hashlist("DE-BKA", "hotline")
        await producer.send_and_wait(
            topic, value=_signed_by("DE-BKA", fed, own, own_topic), key=b"e-moved"
        )
    finally:
        await producer.stop()
    follower = await fed.follow_lists()
    assert (follower.applied, follower.rejected) == (1, 2)
    assert [e.entry_id for e in fed.index.lists.state.entries()] == ["e-real"]
    raw = await read_all(fed.conn, fed.layout.rejected(HUB), expect=2)
    reasons = sorted(DeadLetter.from_bytes(r).reason for r in raw)
    assert reasons == sorted([ListSignatureError.reason, HashListError.reason])


async def test_an_entry_matching_too_many_media_is_quarantined_until_its_owner_confirms(
    fed: Fed,
) -> None:
    fed.index.lists.quarantine_after = 2
    entry = _entry(fed, "IT-PS", "e-broad", pdq=CENTRE)
    await fed.publish_list("IT-PS", [entry])
    await fed.follow_lists()
    # Four media each 16 bits from the entry, 32 from each other: four clusters, one entry.
    near = [_flip(CENTRE, range(16 * i, 16 * i + 16)) for i in range(4)]
    async with fed.node("ES-PN") as es:
        for i in range(3):
            d = _media_dossier(
                10 + i, [(f"{0x100 + i:064x}", near[i])], phone=f"+4477009006{i:02d}"
            )
            await es.publish_dossier(d, to=[HUB])
    await fed.route(expect=3)
    await fed.hub(expect=3)
    await fed.route(expect=3)  # two hits to ES-PN, and the quarantine notice to IT-PS
    notes = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=2)
    assert [m["status"] for m in (x for n in notes for h in n["matches"] for x in h["lists"])] == [
        "ADD",
        "ADD",
    ]
    topic = fed.layout.hashlist("IT-PS", "hotline")
    assert fed.index.lists.quarantined() == [(topic, "e-broad", 3)]  # the third is held back
    # The list owner is told, in a signed notification that names none of the holders.
    (notice,) = await fed.inbox("IT-PS", "HIT_NOTIFICATION", expect=1)
    assert notice["hit_key"] == "quarantine:IT-PS/hotline/e-broad"
    assert (notice["selector_type"], notice["selector_value"]) == ("MEDIA_PDQ", CENTRE)
    assert notice["other_agencies"] == [] and not notice["known_material"]
    ((listed,),) = [m["lists"] for m in notice["matches"]]
    assert (listed["entry_id"], listed["status"]) == ("e-broad", "QUARANTINED")
    assert notice["list_counts"] == [
        {"list": "hotline", "list_owner": "IT-PS", "category": "A", "count": 3}
    ]
    assert all(b"ES-PN" not in i.payload for i in await fed.received("IT-PS"))
    assert fed.index.lists.quarantine_due() == []  # told once

    await fed.publish_list("IT-PS", [entry.then("CONFIRM", note="reviewed: a series")])
    await fed.follow_lists()
    assert fed.index.lists.quarantined() == []
    async with fed.node("ES-PN") as es:
        d = _media_dossier(20, [(f"{0x200:064x}", near[3])], phone="+447700900699")
        await es.publish_dossier(d, to=[HUB])
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=1)
    notes = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=3)
    latest = max(notes, key=lambda n: n["at"])
    assert [x["status"] for h in latest["matches"] for x in h["lists"]] == ["CONFIRM"]
    assert len(await fed.inbox("IT-PS", "HIT_NOTIFICATION")) == 1  # a confirmed entry: no notice


async def test_a_seizure_sized_dossier_gives_each_owner_one_summarised_notification(
    fed: Fed,
) -> None:
    refs = 3000
    listed = [f"{0x1000 + i:064x}" for i in range(300)]
    await fed.publish_list(
        "IT-PS", [_entry(fed, "IT-PS", f"s-{i}", sha256=h) for i, h in enumerate(listed)]
    )
    await fed.follow_lists()
    # DE-BKA already holds near duplicates of 40 of the seized images (random PDQ hashes are
    # about 128 bits apart, so each seized image is its own cluster).
    pdq = to_hex(np.random.default_rng(31).integers(0, 2**64 - 1, size=(refs, 4), dtype=np.uint64))
    held = [(f"{0x900000 + i:064x}", _flip(pdq[i], range(10))) for i in range(40)]
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(_media_dossier(30, held, phone="+447700900701"), to=[HUB])
    await fed.route(expect=1)
    await fed.hub(expect=1)  # no hit yet: nobody else holds these
    seized = [(listed[i] if i < 300 else f"{0x500000 + i:064x}", pdq[i]) for i in range(refs)]
    async with fed.node("ES-PN") as es:
        await es.publish_dossier(_media_dossier(31, seized, phone="+447700900702"), to=[HUB])
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=2)  # one summary to each owner
    (es_note,) = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=1)
    (de_note,) = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=1)
    es_keys = [m["hit_key"] for m in es_note["matches"]]
    assert len(es_keys) == len(set(es_keys)) == 300 + 40
    assert sum(1 for m in es_note["matches"] if m["known_material"]) == 300
    assert [m["other_agencies"] for m in es_note["matches"] if m["hit_key"].startswith("pdq:")] == [
        ["DE-BKA"]
    ] * 40
    assert (es_note["references"], es_note["matched_references"]) == (refs, 300)
    assert es_note["list_counts"] == [
        {"list": "hotline", "list_owner": "IT-PS", "category": "A", "count": 300}
    ]
    assert len(de_note["matches"]) == 40 and de_note["references"] == 0
    assert all(m["other_agencies"] == ["ES-PN"] for m in de_note["matches"])


async def test_hub_run_imports_known_material_as_its_own_list_and_matches_it(
    fed: Fed, tmp_path: Path
) -> None:
    listed = f"{0xC0FFEE:064x}"
    known = tmp_path / "known.txt"
    known.write_text(listed + "\n")
    async with fed.node("ES-PN") as es:
        await es.publish_dossier(
            _media_dossier(40, [(listed, None)], phone="+447700900801"), to=[HUB]
        )
    await fed.route(expect=1)
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP=fed.conn.bootstrap,
        BROKER_TOPIC_PREFIX=fed.layout.prefix,
        BROKER_HOME=str(fed.settings.home),
    )
    fed.index.close()  # the hub process owns hub.db while it runs
    ran = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "broker", "hub", "run", "--known-material", str(known),
         "--until-idle", "3"],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )  # fmt: skip
    assert "1 known-material hashes published" in ran.stdout
    fed.index = HubIndex.open(hub_db(fed.settings, HUB))
    await fed.route(expect=1)
    (note,) = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=1)
    assert note["known_material"]
    ((match,),) = [m["lists"] for m in note["matches"]]
    assert (match["list"], match["list_owner"], match["status"]) == ("known-material", HUB, "ADD")
    # What `broker hub report` and the demo count as known-material hits.
    assert fed.index.known_hits() == {listed: {"ES-PN"}}
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "broker", "hashlist", "show", "--list", "known-material",
         "--as", "ES-PN", "--owner", HUB, "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    assert json.loads(shown.stdout)["by_kind"] == {"sha256": 1, "md5": 0, "pdq": 0}
    fed.index.close()
