"""Originator control end to end on the real broker: the hub never names a restricted owner,
a grant releases exactly what it names, and a grant that widens the audience is refused.

Every test ends with the leak check of :mod:`tests.hub.live`, over every message the hub sent."""

from __future__ import annotations

import os
import subprocess
import sys

from broker.audit.auditor import replay_and_verify
from broker.audit.events import AuditKind
from broker.deadletter import DeadLetter
from broker.hub.grant import grant_release
from broker.topics import AGENCY_ID_PATTERN
from tests.hub.live import PHONE, Fed, Holder, assert_hub_names_no_restricted_holder, dossier
from tests.kafka_helpers import read_all


async def test_restricted_holding_is_withheld_then_released_exactly_as_granted(fed: Fed) -> None:
    async with fed.node("ES-PN") as es:
        es_pub = await es.publish_dossier(dossier(1, restricted=True), to=["EUROPOL"])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(dossier(2, restricted=False), to=["EUROPOL"])
    await fed.route(expect=2)
    hub = await fed.hub(expect=2)
    assert hub.notifications == 2 and hub.release_requests == 1
    await fed.route(expect=3)

    # DE-BKA learns there is a hit, not who holds it: ES-PN's dossier is H2 / TLP:RED.
    (de_hit,) = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=1)
    assert de_hit["other_agencies"] == [] and de_hit["permission_required"] is True
    assert de_hit["selector_value"] == PHONE  # its own value
    # ES-PN is told DE-BKA holds it (DE-BKA's dossier is unrestricted) and is asked to release.
    (es_hit,) = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=1)
    assert es_hit["other_agencies"] == ["DE-BKA"] and es_hit["permission_required"] is False
    (request,) = await fed.inbox("ES-PN", "RELEASE_REQUEST", expect=1)
    assert request["requested_for"] == ["DE-BKA"]
    # Leak attempt: nothing of ES-PN is anywhere in what the hub sent anyone else.
    es_holding = Holder(agency="ES-PN", restricted=True, envelope_ids=(es_pub.envelope_id,))
    assert await assert_hub_names_no_restricted_holder(fed, [es_holding]) == 3

    # An attempt to widen the audience (IT-PS was never asked about) is refused...
    await fed.grant("ES-PN", request, ["DE-BKA", "IT-PS"])
    # ... so is a grant forged by DE-BKA for ES-PN's request ...
    await fed.grant("DE-BKA", request, ["DE-BKA"])
    # ... and ES-PN's genuine grant, from the CLI, releases exactly to DE-BKA.
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP=fed.conn.bootstrap,
        BROKER_TOPIC_PREFIX=fed.layout.prefix,
        BROKER_HOME=str(fed.settings.home),
    )
    listed = subprocess.run(
        [sys.executable, "-m", "broker", "hub", "requests", "--as", "ES-PN"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert request["request_id"] in listed.stdout
    subprocess.run(
        [
            sys.executable,
            "-m",
            "broker",
            "hub",
            "grant",
            "--as",
            "ES-PN",
            "--request",
            request["request_id"],
            "--to",
            "DE-BKA",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    await fed.route(expect=3)
    await fed.hub(expect=3)
    await fed.route(expect=1)
    hits = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=2)
    assert hits[-1]["other_agencies"] == ["ES-PN"]
    assert await fed.inbox("IT-PS", "HIT_NOTIFICATION") == []
    released = [("ES-PN", "DE-BKA")]
    assert await assert_hub_names_no_restricted_holder(fed, [es_holding], released=released) == 4
    letters = [
        DeadLetter.from_bytes(v)
        for v in await read_all(fed.conn, fed.layout.rejected("EUROPOL"), expect=2)
    ]
    assert len(letters) == 2
    details = " ".join(letter.detail or "" for letter in letters)
    assert "widens the audience" in details and "not signed by the owner" in details
    assert fed.index.release_request(request["request_id"])["status"] == "GRANTED"  # type: ignore[index]

    # The audit trail holds the whole story, and its rules hold: the release was granted.
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
    releases = [
        ev
        for ev, _ in audit.events
        if ev.kind is AuditKind.HIT_NOTIFICATION and ev.outcome == "released"
    ]
    assert [(ev.parties, ev.ref) for ev in releases] == [
        (["EUROPOL", "DE-BKA", "ES-PN"], request["request_id"])
    ]
    grants = [ev for ev, _ in audit.events if ev.kind is AuditKind.RELEASE_GRANT]
    assert [(ev.stream, ev.parties) for ev in grants] == [("ES-PN", ["ES-PN", "DE-BKA"])]
    rejected = [ev.reason for ev, _ in audit.events if ev.kind is AuditKind.REJECT]
    assert rejected == ["invalid-payload", "invalid-payload"]


async def test_probe_marked_restricted_does_not_learn_other_restricted_holders(fed: Fed) -> None:
    """F1: a prober marks its own probe H2/TLP:RED so that the hub asks IT to release — the
    request must not name the other restricted holder; between two restricted holders the hub
    mediates anonymously, and a grant to the anonymous requester reaches exactly that holder."""
    async with fed.node("ES-PN") as es:
        es_pub = await es.publish_dossier(dossier(1, restricted=True), to=["EUROPOL"])
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(dossier(2, restricted=False), to=["EUROPOL"])
    await fed.route(expect=2)
    await fed.hub(expect=2)
    # The prober (IT-PS) guesses the selector and marks its own probe restricted.
    async with fed.node("IT-PS") as it:
        it_pub = await it.publish_dossier(dossier(3, restricted=True), to=["EUROPOL"])
    await fed.route(expect=1)
    await fed.hub(expect=1)
    await fed.route(expect=6)  # 3 about the first two holders, 3 to ES-PN and IT-PS

    # The prober's release request names the unrestricted holder and an anonymous one.
    (probe_request,) = await fed.inbox("IT-PS", "RELEASE_REQUEST", expect=1)
    asked = probe_request["requested_for"]
    assert "ES-PN" not in asked
    anonymous = [a for a in asked if not AGENCY_ID_PATTERN.fullmatch(a)]
    assert sorted(set(asked) - set(anonymous)) == ["DE-BKA"] and len(anonymous) == 1
    (probe_hit,) = await fed.inbox("IT-PS", "HIT_NOTIFICATION", expect=1)
    assert probe_hit["other_agencies"] == ["DE-BKA"] and probe_hit["permission_required"]
    # ES-PN is asked, in a second request, about an anonymous restricted holder: not "IT-PS".
    await fed.route(expect=1)
    es_requests = await fed.inbox("ES-PN", "RELEASE_REQUEST", expect=2)
    assert es_requests[0]["requested_for"] == ["DE-BKA"]
    (about_prober,) = es_requests[1]["requested_for"]
    assert not AGENCY_ID_PATTERN.fullmatch(about_prober) and about_prober != anonymous[0]

    # Guessing the name in a grant is refused as widening; the anonymous grant releases exactly
    # the holder behind it (ES-PN learns of IT-PS, which consented), and nobody else.
    await fed.grant("IT-PS", probe_request, ["ES-PN"])
    async with fed.node("IT-PS") as it:  # the owner's real grant: audited in its stream
        await grant_release(it, request_id=probe_request["request_id"], release_to=anonymous)
    await fed.route(expect=2)
    await fed.hub(expect=2)
    await fed.route(expect=1)
    es_hits = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=3)
    assert es_hits[-1]["other_agencies"] == ["DE-BKA", "IT-PS"]
    assert len(await fed.inbox("IT-PS", "HIT_NOTIFICATION")) == 1

    # Every message the hub sent anyone: no restricted holder named to anyone it did not release.
    holders = [
        Holder(agency="ES-PN", restricted=True, envelope_ids=(es_pub.envelope_id,)),
        Holder(agency="IT-PS", restricted=True, envelope_ids=(it_pub.envelope_id,)),
    ]
    assert (
        await assert_hub_names_no_restricted_holder(fed, holders, released=[("IT-PS", "ES-PN")])
        == 3 + 4 + 1
    )
    (letter,) = [
        DeadLetter.from_bytes(v)
        for v in await read_all(fed.conn, fed.layout.rejected("EUROPOL"), expect=1)
    ]
    assert "widens the audience" in (letter.detail or "")
    # The auditor sees the whole story, and rule 3 resolves the anonymous grant to IT-PS's.
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
    releases = [
        ev.parties
        for ev, _ in audit.events
        if ev.kind is AuditKind.HIT_NOTIFICATION and ev.outcome == "released"
    ]
    assert releases == [["EUROPOL", "ES-PN", "IT-PS"]]


async def test_near_duplicate_image_does_not_reveal_the_restricted_founders_exact_pdq_hash(
    fed: Fed,
) -> None:
    """F11: an agency whose image is within distance 31 of a restricted agency's image learns
    there is a hit, under an opaque cluster id — never that agency's exact PDQ hash."""
    founder = "f" * 64
    near = "0" * 7 + "f" * 57  # 28 bits away: the same cluster
    async with fed.node("ES-PN") as es:
        es_pub = await es.publish_dossier(
            dossier(1, restricted=True, phone="+447700900101", pdq=founder), to=["EUROPOL"]
        )
    async with fed.node("DE-BKA") as de:
        await de.publish_dossier(
            dossier(2, restricted=False, phone="+447700900102", pdq=near), to=["EUROPOL"]
        )
    await fed.route(expect=2)
    await fed.hub(expect=2)
    await fed.route(expect=3)

    (de_hit,) = await fed.inbox("DE-BKA", "HIT_NOTIFICATION", expect=1)
    assert de_hit["selector_type"] == "MEDIA_PDQ" and de_hit["selector_value"] == near
    assert founder not in de_hit["hit_key"] and de_hit["permission_required"]
    (es_hit,) = await fed.inbox("ES-PN", "HIT_NOTIFICATION", expect=1)
    (request,) = await fed.inbox("ES-PN", "RELEASE_REQUEST", expect=1)
    assert es_hit["selector_value"] == founder and near not in es_hit["hit_key"]
    assert request["hit_key"] == es_hit["hit_key"] == de_hit["hit_key"]  # the opaque id
    holders = [
        Holder(
            agency="ES-PN", restricted=True, envelope_ids=(es_pub.envelope_id,), hashes=(founder,)
        ),
        Holder(agency="DE-BKA", restricted=False, hashes=(near,)),
    ]
    assert await assert_hub_names_no_restricted_holder(fed, holders) == 3


async def test_hit_notifications_are_never_dated_before_the_open_that_caused_them(
    fed: Fed,
) -> None:
    """Audit rule gap: the OPEN is stamped before the hub's handler runs, not after it."""
    async with fed.node("ES-PN") as es:
        await es.publish_dossier(dossier(1, restricted=True), to=["EUROPOL"])
    async with fed.node("DE-BKA") as de:
        trigger = await de.publish_dossier(dossier(2, restricted=False), to=["EUROPOL"])
    await fed.route(expect=2)
    await fed.hub(expect=2)
    audit = await replay_and_verify(fed.settings, conn=fed.conn, keep_events=True)
    hub_events = [ev for ev, _ in audit.events if ev.stream == "EUROPOL"]
    (opened,) = [
        ev
        for ev in hub_events
        if ev.kind is AuditKind.OPEN and ev.envelope_id == trigger.envelope_id
    ]
    caused = [
        ev
        for ev in hub_events
        if ev.kind in (AuditKind.HIT_NOTIFICATION, AuditKind.RELEASE_REQUEST)
    ]
    assert len(caused) == 3  # two notifications and ES-PN's release request
    assert all(opened.at <= ev.at for ev in caused), (opened.at, [ev.at for ev in caused])
