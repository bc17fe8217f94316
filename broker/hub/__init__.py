"""The hub: cross-border matching with originator control (hit/no-hit).

Example::

    >>> from broker.hub import hamming
    >>> hamming("00", "03")
    2
"""

from __future__ import annotations

from broker.hub.index import Holding, HubIndex, dossier_keys, hamming
from broker.hub.service import Hub, Notice, plan

__all__ = ["Holding", "Hub", "HubIndex", "Notice", "dossier_keys", "hamming", "plan"]
