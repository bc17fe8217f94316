"""Run chaos scenarios on clusters this run starts and stops itself.

The broker-fault, process, load and hostile scenarios share one 3-node cluster
(each under its own topic prefix and federation); the ACL scenario gets a
1-node cluster with mutual TLS. Both live under a temporary directory and are
stopped at the end, whatever happens.

Example (not run here: it starts JVMs)::

    results = await run_chaos(sizes=Sizes.quick(), names=["hostile-input"])
"""

from __future__ import annotations

import logging
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from broker.config import Settings
from broker.devtools.chaos.report import ScenarioResult
from broker.devtools.chaos.scenarios import SCENARIOS, TLS_SCENARIOS, Context, Sizes
from broker.errors import ConfigError
from broker.local import LocalCluster

__all__ = ["run_chaos"]

log = logging.getLogger(__name__)


async def run_chaos(
    *,
    sizes: Sizes,
    names: list[str] | None = None,
    workdir: Path | None = None,
    say: Callable[[str], None] = print,
) -> list[ScenarioResult]:
    """Run the named scenarios (all by default) in order; return one result per scenario."""
    chosen = names or list(SCENARIOS)
    unknown = [n for n in chosen if n not in SCENARIOS]
    if unknown:
        raise ConfigError(
            f"unknown scenario {', '.join(unknown)}", detail=f"known: {', '.join(SCENARIOS)}"
        )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # fault injection is noisy
    with tempfile.TemporaryDirectory(prefix="broker-chaos-", dir=workdir) as tmp:
        root = Path(tmp)
        results: list[ScenarioResult] = []
        plain = [n for n in chosen if n not in TLS_SCENARIOS]
        tls = [n for n in chosen if n in TLS_SCENARIOS]
        if plain:
            results += await _on_cluster(root / "plain", plain, sizes, say, nodes=3, tls=False)
        if tls:
            results += await _on_cluster(root / "tls", tls, sizes, say, nodes=1, tls=True)
        order = {n: i for i, n in enumerate(chosen)}
        return sorted(results, key=lambda r: order[r.scenario])


async def _on_cluster(
    root: Path,
    names: list[str],
    sizes: Sizes,
    say: Callable[[str], None],
    *,
    nodes: int,
    tls: bool,
) -> list[ScenarioResult]:
    say(f"== starting a real {nodes}-node Kafka{' with mutual TLS' if tls else ''}")
    cluster = await LocalCluster.start(
        state_dir=root / "kafka", cache_dir=Settings().cache_dir, nodes=nodes, tls=tls
    )
    results = []
    try:
        ctx = Context(cluster=cluster, workdir=root, sizes=sizes, say=say)
        for name in names:
            say(f"== {name}")
            started = time.monotonic()
            try:
                result = await SCENARIOS[name](ctx)
            except Exception as exc:
                log.debug("scenario %s failed", name, exc_info=True)
                result = ScenarioResult(scenario=name, error=f"{type(exc).__name__}: {exc}")
                result.notes.append(traceback.format_exc(limit=3).replace("\n", " | "))
                result.seconds = time.monotonic() - started
            say(
                f"   {name}: sent {result.sent}, delivered {result.delivered}, lost {result.lost}, "
                f"duplicated {result.duplicated}, hostile accepted {result.hostile_accepted}"
                f" -> {'OK' if result.ok else 'FAIL'}"
            )
            results.append(result)
    finally:
        await cluster.stop()
    return results
