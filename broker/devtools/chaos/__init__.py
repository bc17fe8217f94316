"""Reliability and attack scenarios on a real local Kafka: faults survived, nothing lost.

``broker chaos`` runs each scenario (:data:`broker.devtools.chaos.scenarios.SCENARIOS`) on
clusters it starts itself and prints what it measured: records sent, delivered
exactly once, lost, duplicated to a handler, hostile records accepted and
rightly rejected, and the time to recover from each fault.

Example (not run here: it starts JVMs)::

    $ broker chaos --quick
    $ broker chaos --scenario hostile-input --json
"""

from __future__ import annotations

from broker.devtools.chaos.report import ScenarioResult, render_json, render_table
from broker.devtools.chaos.runner import run_chaos
from broker.devtools.chaos.scenarios import SCENARIOS, Sizes

__all__ = ["SCENARIOS", "ScenarioResult", "Sizes", "render_json", "render_table", "run_chaos"]
