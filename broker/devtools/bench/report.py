"""Medians, secure/plain ratios, targets, the printed table and the JSON object.

Ratios are paired: each repetition divides a secure figure by the plain figure
measured next to it (same size, same repetition), and the report gives the median
of those ratios, so drift of a shared machine cancels out as far as possible.

Example::

    >>> median([0.2, 0.4, 0.3, 0.1])
    0.25
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CPU_KEYS", "HEADLINE", "TARGETS", "Cell", "Report", "median"]

#: The configuration the targets are stated for: 4 KiB dossiers, 3 recipients.
HEADLINE = (4096, 3)
#: Goals (issue 14, replacing issue 7's ratios): offline CPU per envelope, secure/plain
#: ratios, the highest offered rate at p99 <= 50 ms; latency and audit rate (issue 7).
TARGETS = {
    "cpu_us_publish_classic": ("<=", 300.0),
    "cpu_us_publish_pq": ("<=", 350.0),
    "cpu_us_consume_classic": ("<=", 500.0),
    "cpu_us_consume_pq": ("<=", 550.0),
    "publish_ratio_classic": (">=", 0.3),
    "publish_ratio_pq": (">=", 0.25),
    "consume_ratio_classic": (">=", 0.1),
    "consume_ratio_pq": (">=", 0.1),
    "max_rate_p99_50ms": (">=", 1000.0),
    "e2e_p99_ms": ("<=", 50.0),
    "audit_verify_events_per_s": (">=", 50_000.0),
}
#: The offline CPU and floor keys (issue 14), in the order they are printed.
CPU_KEYS = [
    f"{kind}_us_{side}_{suite}"
    for kind in ("cpu", "floor")
    for side in ("publish", "consume")
    for suite in ("classic", "pq")
]
_SHORT = {"classic": "classic", "pq-hybrid": "pq"}


def median(values: list[float]) -> float:
    """Return the median of ``values``."""
    return float(statistics.median(values))


@dataclass(kw_only=True)
class Cell:
    """Every repetition's figures for one (size, recipients, suite)."""

    size: int
    recipients: int
    suite: str
    count: int
    envelope_bytes: int = 0
    plain_produce: list[float] = field(default_factory=list)
    plain_consume: list[float] = field(default_factory=list)
    publish: list[float] = field(default_factory=list)
    consume: list[float] = field(default_factory=list)

    def ratio(self, secure: list[float], plain: list[float]) -> float:
        """Median of the paired per-repetition ratios secure/plain."""
        return median([s / p for s, p in zip(secure, plain, strict=True)])

    def to_json(self) -> dict[str, Any]:
        """Return the medians and ratios of this cell."""
        pub = median(self.publish)
        return {
            "size": self.size,
            "recipients": self.recipients,
            "suite": self.suite,
            "count": self.count,
            "envelope_bytes": self.envelope_bytes,
            "plain_produce_per_s": median(self.plain_produce),
            "plain_consume_per_s": median(self.plain_consume),
            "publish_per_s": pub,
            "consume_per_s": median(self.consume),
            "publish_us_per_envelope": 1e6 / pub,
            "consume_us_per_envelope": 1e6 / median(self.consume),
            "publish_ratio": self.ratio(self.publish, self.plain_produce),
            "consume_ratio": self.ratio(self.consume, self.plain_consume),
        }


@dataclass(kw_only=True)
class Report:
    """Everything one ``broker bench`` run measured."""

    repetitions: int
    cells: list[Cell]
    e2e: dict[str, float]
    audit_verify_events_per_s: float
    audit_verifier: str
    seal_scaling: dict[str, Any]
    rss_peak_mib: dict[str, float | None]
    environment: dict[str, Any]
    #: ``cpu_us_*``, ``floor_us_*`` and ``cpu_detail`` (:mod:`broker.devtools.bench.cpu`).
    cpu: dict[str, Any] = field(default_factory=dict)
    #: ``max_rate_p99_50ms``, ``e2e_p99_ms_at_500`` and the steps (bench.sweep).
    sweep: dict[str, Any] = field(default_factory=dict)

    def cell(self, size: int, recipients: int, suite: str) -> Cell:
        """Return the cell for one configuration."""
        for c in self.cells:
            if (c.size, c.recipients, c.suite) == (size, recipients, suite):
                return c
        raise KeyError((size, recipients, suite))

    def recipient_slopes(self) -> dict[str, float]:
        """Publish microseconds per extra recipient, per suite and size (1 -> 10 recipients).

        Key wraps are per recipient, content encryption is once per envelope: the slope
        should be about the same at every size (it would grow with size if the content
        were encrypted per recipient).
        """
        out: dict[str, float] = {}
        rcpts = sorted({c.recipients for c in self.cells})
        lo, hi = rcpts[0], rcpts[-1]
        for suite in sorted({c.suite for c in self.cells}):
            for size in sorted({c.size for c in self.cells}):
                a = self.cell(size, lo, suite).to_json()["publish_us_per_envelope"]
                b = self.cell(size, hi, suite).to_json()["publish_us_per_envelope"]
                out[f"{_SHORT[suite]}_{size}"] = (b - a) / (hi - lo)
        return out

    def to_json(self) -> dict[str, Any]:
        """Return one JSON-ready object with every figure and ratio."""
        size, rcpts = HEADLINE
        classic = self.cell(size, rcpts, "classic").to_json()
        pq = self.cell(size, rcpts, "pq-hybrid").to_json()
        head: dict[str, Any] = {
            "publish_ratio_classic": classic["publish_ratio"],
            "publish_ratio_pq": pq["publish_ratio"],
            "consume_ratio_classic": classic["consume_ratio"],
            "consume_ratio_pq": pq["consume_ratio"],
            "e2e_p50_ms": self.e2e["p50_ms"],
            "e2e_p99_ms": self.e2e["p99_ms"],
            "audit_verify_events_per_s": self.audit_verify_events_per_s,
            "repetitions": self.repetitions,
            **{k: self.cpu.get(k) for k in CPU_KEYS},
            "max_rate_p99_50ms": self.sweep.get("max_rate_p99_50ms"),
            "e2e_p99_ms_at_500": self.sweep.get("e2e_p99_ms_at_500"),
            "loadavg": self.environment.get("loadavg_end"),
        }
        targets: dict[str, dict[str, Any]] = {
            name: {
                "goal": f"{op} {goal:g}",
                "measured": head[name],
                "met": _met(op, goal, head[name]),
            }
            for name, (op, goal) in TARGETS.items()
            if head.get(name) is not None
        }
        interactions = {s: v["interaction_us"] for s, v in self.seal_scaling.items()}
        targets["recipients_cost_only_in_wraps"] = {
            "goal": "|interaction| <= 25% of 9 wraps",
            "measured": interactions,
            "met": all(v["met"] for v in self.seal_scaling.values()),
        }
        return {
            **head,
            "headline": {"size": size, "recipients": rcpts},
            "plain_produce_per_s": classic["plain_produce_per_s"],
            "plain_consume_per_s": classic["plain_consume_per_s"],
            "publish_per_s_classic": classic["publish_per_s"],
            "publish_per_s_pq": pq["publish_per_s"],
            "consume_per_s_classic": classic["consume_per_s"],
            "consume_per_s_pq": pq["consume_per_s"],
            "e2e": self.e2e,
            "audit_verifier": self.audit_verifier,
            "rss_peak_mib": self.rss_peak_mib,
            "recipient_slope_us": self.recipient_slopes(),
            "seal_scaling": self.seal_scaling,
            "targets": targets,
            "cpu_detail": self.cpu.get("cpu_detail"),
            "sweep_steps": self.sweep.get("steps"),
            "cells": [c.to_json() for c in self.cells],
            "environment": self.environment,
        }

    def table(self) -> str:
        """Return the human-readable table."""
        lines = [
            f"{'size':>6} {'rcpt':>4} {'suite':9} {'env B':>6} | {'plain prod/s':>12} "
            f"{'secure pub/s':>12} {'ratio':>6} | {'plain cons/s':>12} {'secure cons/s':>13} "
            f"{'ratio':>6}",
        ]
        for c in self.cells:
            j = c.to_json()
            lines.append(
                f"{c.size:>6} {c.recipients:>4} {c.suite:9} {c.envelope_bytes:>6} | "
                f"{j['plain_produce_per_s']:>12,.0f} {j['publish_per_s']:>12,.0f} "
                f"{j['publish_ratio']:>6.2f} | {j['plain_consume_per_s']:>12,.0f} "
                f"{j['consume_per_s']:>13,.0f} {j['consume_ratio']:>6.2f}"
            )
        data = self.to_json()
        e2e = self.e2e
        lines += [
            "",
            f"end to end through the router ({e2e['offered_per_s']:,.0f} dossiers/s offered, "
            f"{e2e['delivered']:,.0f} delivered in {e2e['seconds']:.1f} s): "
            f"p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms, max {e2e['max_ms']:.1f} ms",
            f"audit replay-verify: {self.audit_verify_events_per_s:,.0f} events/s "
            f"({self.audit_verifier})",
            "peak RSS (MiB): "
            + ", ".join(
                f"{k} {v:,.0f}" if v is not None else f"{k} n/a"
                for k, v in self.rss_peak_mib.items()
            ),
            "publish us per extra recipient (1 -> 10), through Kafka: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in data["recipient_slope_us"].items()),
            "seal CPU us per envelope (1 KiB/64 KiB x 1/10 recipients): "
            + "; ".join(
                f"{suite} "
                + ", ".join(f"{k} {v:,.0f}" for k, v in figures["seal_us"].items())
                + f" (per extra recipient {figures['wrap_us_per_recipient_1KiB']:,.0f}/"
                f"{figures['wrap_us_per_recipient_64KiB']:,.0f})"
                for suite, figures in self.seal_scaling.items()
            ),
        ]
        if self.cpu:
            lines.append(
                "offline CPU us/envelope (whole node path | primitive floor, "
                f"KEM {self.cpu['cpu_detail']['kem']}): "
                + ", ".join(
                    f"{side} {suite} {self.cpu[f'cpu_us_{side}_{suite}']:,.0f} | "
                    f"{self.cpu[f'floor_us_{side}_{suite}']:,.0f}"
                    for side in ("publish", "consume")
                    for suite in ("classic", "pq")
                )
            )
        if self.sweep:
            lines.append(
                "offered-rate sweep (rate/s: p99 ms): "
                + ", ".join(
                    f"{s['offered_per_s']:,.0f}: {s['p99_ms']:,.1f}" for s in self.sweep["steps"]
                )
                + f"; highest at p99 <= 50 ms: {self.sweep['max_rate_p99_50ms']:,.0f}/s"
            )
        lines.append(f"medians of {self.repetitions} repetition(s); targets (4 KiB, 3 recipients):")
        for name, t in data["targets"].items():
            mark = "met" if t["met"] else "MISSED"
            value = t["measured"]
            shown = (
                f"{value:>12,.2f}"
                if isinstance(value, float | int)
                else ", ".join(f"{k} {v:,.0f} us" for k, v in value.items())
            )
            lines.append(f"  {name:29} {shown}  goal {t['goal']}  {mark}")
        return "\n".join(lines)


def _met(op: str, goal: float, value: float) -> bool:
    return value >= goal if op == ">=" else value <= goal
