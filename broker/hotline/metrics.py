"""Time to removal: per hosting provider and per country, from the notice book.

Arachnid measures time to removal from the first notice until the content is no
longer accessible, and publishes the share of content that took more than 42 days;
INHOPE reports days to removal by hosting country. :func:`removal_report` computes,
per provider and per country: notices open and closed, median and 90th percentile
of time to removal (days, closed notices), the share over 42 days (closed after
42 days, or open for longer than 42 days, over all notices old enough to tell),
and reappearances. :func:`removal_svg` draws the distribution (hand-rolled SVG,
no plotting dependency).

Example::

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from broker.hotline.notices import Notice

__all__ = [
    "OVER_DAYS",
    "RemovalRow",
    "as_json",
    "format_rows",
    "percentile",
    "removal_report",
    "removal_svg",
]

#: The figure Project Arachnid publishes: the share of content taking longer than this.
OVER_DAYS = 42.0
_BINS: tuple[tuple[float, str], ...] = (
    (1, "<1 d"), (2, "1-2 d"), (3, "2-3 d"), (7, "3-7 d"), (14, "7-14 d"), (28, "14-28 d"),
    (42, "28-42 d"), (math.inf, ">42 d"),
)  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile of ``values`` (linear interpolation between ranks)."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True, kw_only=True)
class RemovalRow:
    """The figures for one provider or one country."""

    by: str
    key: str
    open: int
    closed: int
    median_days: float | None
    p90_days: float | None
    over_42_days: float | None
    reappearances: int


def _days(d: dt.timedelta) -> float:
    return d.total_seconds() / 86400


def _row(by: str, key: str, notices: list[Notice], now: dt.datetime) -> RemovalRow:
    closed = [_days(t) for n in notices if (t := n.time_to_removal) is not None]
    # Notices whose outcome at 42 days is known: closed ones, and open ones older than 42 days.
    judged = closed + [
        _days(now - n.issued_at)
        for n in notices
        if n.removed_at is None and _days(now - n.issued_at) > OVER_DAYS
    ]
    return RemovalRow(
        by=by,
        key=key,
        open=sum(1 for n in notices if n.state == "OPEN"),
        closed=len(closed),
        median_days=round(percentile(closed, 0.5), 2) if closed else None,
        p90_days=round(percentile(closed, 0.9), 2) if closed else None,
        over_42_days=(
            round(sum(d > OVER_DAYS for d in judged) / len(judged), 3) if judged else None
        ),
        reappearances=sum(1 for n in notices if n.reappearance_of is not None),
    )


def removal_report(notices: Sequence[Notice], *, now: dt.datetime) -> list[RemovalRow]:
    """Return one row per hosting provider, then one per country, then ``all``."""
    rows: list[RemovalRow] = []
    for by, attr in (("provider", "provider"), ("country", "host_country")):
        groups: dict[str, list[Notice]] = {}
        for n in notices:
            groups.setdefault(getattr(n, attr), []).append(n)
        rows.extend(_row(by, k, g, now) for k, g in sorted(groups.items()))
    rows.append(_row("all", "all", list(notices), now))
    return rows


def as_json(rows: Sequence[RemovalRow]) -> list[dict[str, Any]]:
    """Return the rows as JSON-ready dicts."""
    return [asdict(r) for r in rows]


def removal_svg(notices: Sequence[Notice], *, width: int = 640, height: int = 280) -> str:
    """Return an SVG bar chart of the time-to-removal distribution of closed notices."""
    counts = [0] * len(_BINS)
    for n in notices:
        t = n.time_to_removal
        if t is not None:
            counts[next(i for i, (edge, _) in enumerate(_BINS) if _days(t) < edge)] += 1
    top = max(counts) or 1
    left, bottom, bar_gap = 48, 40, 8
    plot_w, plot_h = width - left - 16, height - bottom - 36
    bar_w = plot_w / len(_BINS) - bar_gap
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="18" font-size="13">Time to removal '
        f"({sum(counts)} notices removed)</text>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 16}" y2="{height - bottom}" '
        'stroke="#333"/>',
    ]
    for i, ((_, label), c) in enumerate(zip(_BINS, counts, strict=True)):
        h = plot_h * c / top
        x = left + i * (bar_w + bar_gap) + bar_gap / 2
        y = height - bottom - h
        colour = "#c0392b" if label == ">42 d" else "#2c7fb8"
        out += [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{label}: {c}</title></rect>",
            f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{c}</text>',
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{label}</text>",
        ]
    out.append("</svg>")
    return "\n".join(out) + "\n"


def format_rows(rows: list[RemovalRow]) -> list[str]:
    """Return the removal report as aligned text lines."""
    head = f"{'by':8} {'key':28} {'open':>5} {'closed':>6} {'median d':>8} {'p90 d':>6} "
    head += f"{'>42 d':>6} {'reapp.':>6}"

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:g}"

    return [head] + [
        f"{r.by:8} {r.key[:28]:28} {r.open:>5} {r.closed:>6} {f(r.median_days):>8} "
        f"{f(r.p90_days):>6} {f(r.over_42_days):>6} {r.reappearances:>6}"
        for r in rows
    ]
