"""What every scenario gets: sizes, the cluster, a work directory, a progress callback.

Example::

    >>> Sizes.quick().hostile < Sizes.full().hostile
    True
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from broker.devtools.chaos.counting import recovery_seconds
from broker.devtools.chaos.harness import ChaosNetwork
from broker.devtools.chaos.report import ScenarioResult
from broker.local import LocalCluster

__all__ = ["Context", "Scenario", "Sizes", "finish_counts"]


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """How big each scenario is (``full()`` is the issue's specification)."""

    broker_kill_dossiers: int = 10_000
    broker_down_s: float = 15.0
    pause_s: float = 20.0
    stream_rate: float = 50.0
    kill_rounds: int = 5
    kill_stream_s: float = 8.0
    load_rate: float = 1000.0
    load_s: float = 60.0
    hostile: int = 100_000
    valid_every: int = 10
    stall_s: float = 120.0

    @classmethod
    def full(cls) -> Sizes:
        """Return the sizes the issue asks for."""
        return cls()

    @classmethod
    def quick(cls) -> Sizes:
        """Return sizes for a run of a few minutes."""
        return cls(
            broker_kill_dossiers=1_000,
            broker_down_s=5.0,
            pause_s=5.0,
            kill_rounds=1,
            kill_stream_s=4.0,
            load_s=10.0,
            hostile=2_000,
            stall_s=60.0,
        )


@dataclass(frozen=True, kw_only=True)
class Context:
    """A running cluster (3 nodes, or 1 node with mutual TLS) and where to keep state."""

    cluster: LocalCluster
    workdir: Path
    sizes: Sizes
    say: Callable[[str], None] = print

    async def network(self, name: str) -> ChaosNetwork:
        """Create a fresh federation for one scenario."""
        return await ChaosNetwork.create(cluster=self.cluster, workdir=self.workdir, name=name)


Scenario = Callable[[Context], Awaitable[ScenarioResult]]


def finish_counts(
    result: ScenarioResult,
    net: ChaosNetwork,
    expected: dict[str, set[str]],
    *,
    faults: list[float] | None = None,
    fault_agency: dict[float, str] | None = None,
) -> None:
    """Fill sent, delivered, lost, duplicated, crashes and recovery from the stores."""
    result.sent = sum(len(ids) for ids in expected.values())
    handled_by = {agency: net.handled(agency) for agency in expected}
    for agency, ids in expected.items():
        handled = handled_by[agency]
        result.delivered += len(ids & handled.keys())
        result.lost += len(ids - handled.keys())
        stray = handled.keys() - ids
        if stray:
            result.notes.append(f"{agency} handled {len(stray)} ids never sent as valid")
            result.hostile_accepted += len(stray)
    calls = net.handler_calls()
    result.duplicated = sum(n - 1 for n in calls.values() if n > 1)
    if result.duplicated:
        result.notes.append(f"handler called more than once for {result.duplicated} record(s)")
    result.crashes = net.crashes
    result.notes.extend(net.crash_notes())
    if net.publish_retries:
        result.notes.append(f"publisher retried {net.publish_retries} send(s)")
    worst: float | None = None
    for at in faults or []:
        agency = (fault_agency or {}).get(at) or next(iter(expected))
        took = recovery_seconds(at, net.sent_at, handled_by[agency])
        if took is None:
            result.notes.append(f"no record sent after the fault at {at:.0f} was handled")
            continue
        worst = took if worst is None else max(worst, took)
    result.recover_s = worst
