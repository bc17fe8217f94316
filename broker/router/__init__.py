"""The router: outboxes in, inboxes out, exactly once, holding no decryption keys.

* :mod:`broker.router.check` — what is checked before a record is routed (signature,
  outbox ownership, staleness, recipients), without decrypting;
* :mod:`broker.router.service` — the consume-transform-produce loop in Kafka
  transactions (:class:`Router`);
* :mod:`broker.router.attempt` — what one transaction attempt wrote, applied
  (audit, stats, dead-letter hooks) only once it commits.
* :mod:`broker.router.expiry` — outbox records that expired before the router read
  them: an audited loss, never a silent skip.
"""

from broker.router.check import EnvelopeCheck, Route, RoutingCheck
from broker.router.service import Router, RouterStats

__all__ = ["EnvelopeCheck", "Route", "Router", "RouterStats", "RoutingCheck"]
