"""Kafka copies after a key epoch: a retired decryption key is destroyed only once nothing
unread needs it, and then a Kafka copy wrapped to it cannot be opened even with every key
the agency still holds (what a thief of its key files would have) — a recalled dossier's
copy included, once the holder drained its inbox past the epoch. The wall time this takes
is measured by ``broker bench shred``, not here."""

from __future__ import annotations

import pytest

from broker.agency.control import recall
from broker.agency.epochs import shred_retired_keys
from broker.audit.auditor import replay_and_verify
from broker.audit.events import AuditKind
from broker.audit.writer import AuditSink, load_audit_log
from broker.envelope import Verifier
from broker.errors import UnknownKeyError
from broker.federation import rotate_keys
from broker.synthetic import example_dossier
from broker.trust import load_identity, load_trust
from tests.kafka_helpers import read_all
from tests.network.conftest import Network


async def test_kafka_copy_wrapped_to_a_shredded_epoch_key_cannot_be_opened_with_the_agency_keys(
    network: Network,
) -> None:
    settings = network.settings
    async with network.node("ES-PN") as es:
        for seed in (31, 32):
            await es.publish_dossier(example_dossier(seed), to=["DE-BKA"])
    routed = 0
    for _ in range(8):  # until both arrived (a loaded machine joins the group slowly)
        routed += (await network.router().run(until_idle=2.0)).routed
        if routed >= 2:
            break
    assert routed == 2
    (old,) = load_identity(settings, agency="DE-BKA").decryption
    rotate_keys(settings, agency="DE-BKA", usages=("ENCRYPT",))
    (now,) = [r.revoked_at for r in [load_trust(settings).revocation("DE-BKA", old)] if r]
    later = now + settings.max_transit + settings.max_transit  # the transit window is over

    # Two unread records are still wrapped to the old key: it stays (nothing is lost).
    kept = await shred_retired_keys(settings, agency="DE-BKA", conn=network.conn, now=later)
    assert kept == []
    delivered = 0
    async with network.node("DE-BKA") as de:
        for _ in range(8):
            delivered += (await de.consume(until_idle=1.5)).delivered
            if delivered >= 2:
                break
    assert delivered == 2
    # Drained past it: the old key goes, and only then.
    gone = await shred_retired_keys(settings, agency="DE-BKA", conn=network.conn, now=later)
    assert gone == [old]

    copies = await read_all(network.conn, network.layout.inbox("DE-BKA"), expect=2)
    identity = load_identity(settings, agency="DE-BKA")  # every key DE-BKA still has
    assert old not in identity.decryption
    verifier = Verifier(trust=load_trust(settings))
    for copy in copies:
        with pytest.raises(UnknownKeyError):
            verifier.open(copy, identity=identity)


async def _route(network: Network, *, expect: int) -> int:
    """Run the (audited) router until it routed ``expect`` records (joining may be slow)."""
    routed = 0
    for _ in range(8):
        routed += (await network.router(audited=True).run(until_idle=2.0)).routed
        if routed >= expect:
            break
    return routed


async def test_recalled_dossier_replayed_from_kafka_is_undecryptable_once_its_epoch_key_is_shredded(
    network: Network,
) -> None:
    settings = network.settings
    async with network.node("ES-PN") as es:
        sent = await es.publish_dossier(example_dossier(33), to=["DE-BKA"])
    assert await _route(network, expect=1) >= 1
    (old,) = load_identity(settings, agency="DE-BKA").decryption  # the dossier's epoch key
    async with network.node("DE-BKA") as de:
        for _ in range(8):  # until it arrived
            await de.consume(until_idle=1.5)
            if de.store.inbox(kind="DOSSIER"):
                break
        assert [i.envelope_id for i in de.store.inbox(kind="DOSSIER")] == [sent.envelope_id]
    (copy,) = [
        v
        for v in await read_all(network.conn, network.layout.inbox("DE-BKA"), expect=1)
        if sent.envelope_id.encode() in v
    ]
    verifier = Verifier(trust=load_trust(settings))
    # Until the shredding, whoever holds DE-BKA's key files opens the Kafka copy.
    assert verifier.open(copy, identity=load_identity(settings, agency="DE-BKA")).payload

    # The owner recalls; DE-BKA's epoch ends once the recall was routed (the router refuses an
    # envelope wrapped to a key retired before it routes it); DE-BKA applies it (drains).
    async with network.node("ES-PN") as es:
        order = await recall(es, sent.envelope_id, reason="Regulation (EU) 2016/794 Art. 19(2)")
    assert await _route(network, expect=1) >= 1
    rotate_keys(settings, agency="DE-BKA", usages=("ENCRYPT",))
    async with network.node("DE-BKA") as de:
        for _ in range(8):
            await de.consume(until_idle=1.5)
            if de.control.ledger.answered(order.order_id):
                break
        assert de.control.ledger.answered(order.order_id) == ("DESTROYED", None)
    (rev,) = [r for r in [load_trust(settings).revocation("DE-BKA", old)] if r]
    later = rev.revoked_at + settings.max_transit + settings.max_transit  # past the transit window
    log = load_audit_log(settings, stream="DE-BKA", conn=network.conn)
    await log.start()
    try:
        gone = await shred_retired_keys(
            settings, agency="DE-BKA", conn=network.conn, now=later, audit=AuditSink(log)
        )
    finally:
        await log.close()
    assert gone == [old]

    # The recalled record, read straight from Kafka: no key DE-BKA still holds opens it.
    identity = load_identity(settings, agency="DE-BKA")
    assert old not in identity.decryption
    with pytest.raises(UnknownKeyError) as caught:
        verifier.open(copy, identity=identity)
    assert caught.value.reason == "unknown-key"

    # The destruction is an audited act in DE-BKA's own stream, which the auditor replays.
    audit = await replay_and_verify(settings, conn=network.conn, keep_events=True)
    assert audit.report.ok, [f.line() for f in audit.report.findings]
    assert [
        (ev.stream, ev.ref, ev.outcome)
        for ev, _ in audit.events
        if ev.kind == AuditKind.KEY_DESTROYED
    ] == [("DE-BKA", old, "destroyed")]
