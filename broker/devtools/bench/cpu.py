"""The offline CPU figures of ``broker bench``: whole node paths and their primitive floor.

``cpu_us_publish_<suite>`` and ``cpu_us_consume_<suite>`` are process CPU time per 4 KiB
dossier to 3 recipients through the real node code with Kafka taken out
(:mod:`broker.devtools.bench.cpu_publish`, :mod:`broker.devtools.bench.cpu_consume`);
``floor_us_*`` the primitives alone (:mod:`broker.devtools.bench.floor`), measured in
the same run. Medians over ``runs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from broker.devtools.bench.cpu_consume import consume_cpu_us
from broker.devtools.bench.cpu_publish import publish_cpu_us
from broker.devtools.bench.floor import floors
from broker.devtools.bench.report import median

__all__ = ["cpu_figures"]

_SHORT = {"classic": "classic", "pq-hybrid": "pq"}


def cpu_figures(
    *, runs: int, envelopes: int, quick: bool = False, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Measure every ``cpu_us_*`` (median of ``runs``) and ``floor_us_*`` key."""
    consume = consume_cpu_us
    samples: dict[str, list[float]] = {}
    load = os.getloadavg()
    for _ in range(runs):
        for suite, short in _SHORT.items():
            samples.setdefault(f"cpu_us_publish_{short}", []).append(
                publish_cpu_us(suite, envelopes)
            )
            samples.setdefault(f"cpu_us_consume_{short}", []).append(consume(suite, envelopes))
        if say is not None:
            say(
                "cpu us/envelope: " + ", ".join(f"{k[7:]} {v[-1]:,.0f}" for k, v in samples.items())
            )
    floor = floors(quick=quick)
    return {
        **{k: median(v) for k, v in samples.items()},
        **{k: v for k, v in floor.items() if k.startswith("floor_us_")},
        "cpu_detail": {
            "runs": runs,
            "envelopes_per_run": envelopes,
            "samples_us": {k: [round(x, 1) for x in v] for k, v in samples.items()},
            "consume_source": "cpu_consume",
            "kem": floor["kem"],
            "primitives_us": floor["primitives_us"],
            "loadavg": [round(x, 2) for x in load],
        },
    }
