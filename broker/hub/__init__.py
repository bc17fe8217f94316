"""The hub: cross-border matching with originator control (hit/no-hit).

Example::

    >>> from broker.hub import hamming
    >>> hamming("00", "03")
    2
"""

from __future__ import annotations

from broker.hub.index import Holding, HubIndex
from broker.hub.keys import dossier_keys, hamming
from broker.hub.service import ANONYMOUS_PREFIX, Hub, Notice, anonymous_alias, plan

__all__ = [
    "ANONYMOUS_PREFIX",
    "Holding",
    "Hub",
    "HubIndex",
    "Notice",
    "anonymous_alias",
    "dossier_keys",
    "hamming",
    "plan",
]
