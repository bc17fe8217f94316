"""Kafka copies after a key epoch: a retired decryption key is destroyed only once nothing
unread needs it, and then a Kafka copy wrapped to it cannot be opened even with every key
the agency still holds (what a thief of its key files would have)."""

from __future__ import annotations

import pytest

from broker.agency.epochs import shred_retired_keys
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
