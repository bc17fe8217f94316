"""The agency node: publish sealed dossiers to the outbox, consume the inbox.

Public API::

    from broker.agency import AgencyNode, Delivery, PublishResult, ConsumeStats

Example::

    >>> from broker.agency import ConsumeStats
    >>> ConsumeStats().rejected
    0
"""

from __future__ import annotations

from broker.agency.node import AgencyNode
from broker.agency.results import ConsumeStats, Delivery, Handler, PublishResult

__all__ = ["AgencyNode", "ConsumeStats", "Delivery", "Handler", "PublishResult"]
