"""The chaos scenarios, one module per kind of fault; :data:`SCENARIOS` lists them in order.

Each scenario is an ``async`` function taking a
:class:`~broker.devtools.chaos.scenarios.base.Context` and returning a
:class:`~broker.devtools.chaos.report.ScenarioResult`.

Example::

    >>> list(SCENARIOS)[:2]
    ['broker-kill', 'broker-pause']
"""

from __future__ import annotations

from broker.devtools.chaos.scenarios.accept import kill_after_accept
from broker.devtools.chaos.scenarios.acl import acl_probe
from broker.devtools.chaos.scenarios.base import Context, Scenario, Sizes
from broker.devtools.chaos.scenarios.brokers import broker_kill, broker_pause
from broker.devtools.chaos.scenarios.hostile import hostile_input
from broker.devtools.chaos.scenarios.load import sustained_load
from broker.devtools.chaos.scenarios.parts import hostile_parts
from broker.devtools.chaos.scenarios.processes import process_kills
from broker.devtools.chaos.scenarios.retention import retention_expiry
from broker.devtools.chaos.scenarios.scaleout import router_scale_out

__all__ = ["SCENARIOS", "TLS_SCENARIOS", "Context", "Scenario", "Sizes"]

#: Every scenario by name, in the order ``broker chaos`` runs them.
SCENARIOS: dict[str, Scenario] = {
    "broker-kill": broker_kill,
    "broker-pause": broker_pause,
    "process-kills": process_kills,
    "router-scale-out": router_scale_out,
    "kill-after-accept": kill_after_accept,
    "sustained-load": sustained_load,
    "hostile-input": hostile_input,
    "hostile-parts": hostile_parts,
    "retention-expiry": retention_expiry,
    "acl-probe": acl_probe,
}
#: Scenarios that need the mutual-TLS cluster (the others share a 3-node cluster).
TLS_SCENARIOS = frozenset({"acl-probe"})
