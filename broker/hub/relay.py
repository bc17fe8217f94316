"""The hub relays an owner's recall or restriction to every agency a hit was released to.

Who holds something of the owner's dossier beyond its recipients: every agency the hub
told, in a ``HitNotification``, that the owner holds one of the dossier's keys — at once
(the owner's holding was releasable) or after the owner's ``ReleaseGrant``. The index
records exactly that (``notified``: key, agency → the others it was told of). Before the
hub applies the order (a recall erases those very rows), :func:`relay_copies` builds one
``RelayedOrder`` per such agency: the owner's signed relay copy of the order, unchanged
(:func:`broker.agency.relay.sign_relay_copy`), and the hit keys on which that agency was
told. An agency whose own holding on one of them is restricted answers the hub, not the
owner, and is not named to the owner (originator control of that holder).

Example::

    >>> from broker.hub.index import HubIndex
    >>> import tempfile, pathlib
    >>> index = HubIndex.open(pathlib.Path(tempfile.mkdtemp()) / "hub.db")
    >>> relay_copies(index, {"owner": "ES-PN", "envelope_id": "0" * 32, "relay": b"x"})
    []
"""

from __future__ import annotations

from typing import Any

from broker.agency.relay import RELAYED, RelayCopy
from broker.codec import SchemaStore
from broker.hub.index import HubIndex
from broker.topics import HUB

__all__ = ["relay_copies"]


def relay_copies(index: HubIndex, order: dict[str, Any]) -> list[RelayCopy]:
    """Return the relayed copies of ``order`` for every agency a hit on its dossier reached."""
    owner = order["owner"]
    told: dict[str, set[str]] = {}  # agency -> the keys it was told the owner holds
    restricted: set[str] = set()
    for key in index.keys_of(owner, order["envelope_id"]):
        for holding in index.holdings(key):
            agency = holding.agency
            if agency in (owner, HUB) or owner not in (index.notified_others(key, agency) or ()):
                continue
            told.setdefault(agency, set()).add(key)
            if holding.restricted:
                restricted.add(agency)
    store = SchemaStore.default()
    return [
        RelayCopy(
            to=agency,
            payload=store.encode(
                RELAYED,
                {
                    "signed_order": order["relay"],
                    "hit_keys": sorted(keys),
                    "answer_to": HUB if agency in restricted else owner,
                },
            ),
            named=agency not in restricted,
        )
        for agency, keys in sorted(told.items())
    ]
