"""What one chaos scenario measured, and the table and JSON ``broker chaos`` prints.

Columns (the README's "Reliability" section explains each):

* ``sent``: deliveries expected (dossiers x recipients), or probe attempts for the ACL scenario;
* ``delivered``: distinct envelope ids handled (decrypted, validated, stored) exactly once;
* ``lost``: sent but never handled; ``duplicated``: handled more than once;
* ``hostile``: hostile records injected; ``hostile_accepted``: hostile records that reached
  a handler (or, for ACLs, forbidden operations that succeeded);
* ``rejected_ok``: hostile records dead-lettered with a reason expected for their kind;
* ``recover_s``: fault injected -> first record sent after the fault is handled (worst round).

Example::

    >>> r = ScenarioResult(scenario="demo", sent=3, delivered=3)
    >>> r.ok, render_table([r]).splitlines()[0].split()[:3]
    (True, ['scenario', 'sent', 'delivered'])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ScenarioResult", "render_json", "render_table"]


@dataclass(kw_only=True)
class ScenarioResult:
    """The figures of one scenario run."""

    scenario: str
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    hostile: int = 0
    hostile_accepted: int = 0
    rejected_ok: int = 0
    rejected_wrong_reason: int = 0
    not_rejected: int = 0
    recover_s: float | None = None
    crashes: int = 0
    seconds: float = 0.0
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: Hostile scenario: dead letters written, and rejected records the audit log names.
    dead_letters: int | None = None
    audited_rejections: int | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing was lost or duplicated and every hostile record was refused rightly."""
        return (
            self.error is None
            and self.lost == 0
            and self.duplicated == 0
            and self.hostile_accepted == 0
            and self.rejected_ok == self.hostile
            and self.rejected_wrong_reason == 0
            and self.crashes == 0
            and self.audited_rejections == self.dead_letters
        )

    def to_json_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict (with ``ok``)."""
        return {**asdict(self), "ok": self.ok}


_COLUMNS = [
    ("scenario", "scenario"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("lost", "lost"),
    ("duplicated", "dup"),
    ("hostile", "hostile"),
    ("hostile_accepted", "accepted"),
    ("rejected_ok", "rejected_ok"),
    ("recover_s", "recover_s"),
    ("crashes", "crashes"),
    ("seconds", "wall_s"),
    ("ok", "ok"),
]


def _cell(result: ScenarioResult, key: str) -> str:
    if key == "ok":
        return "OK" if result.ok else "FAIL"
    value = getattr(result, key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_table(results: list[ScenarioResult]) -> str:
    """Return a plain-text table, one row per scenario, then peaks, reasons and notes."""
    rows = [[title for _, title in _COLUMNS]]
    rows += [[_cell(r, key) for key, _ in _COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    for r in results:
        if r.peak_rss_mib:
            peaks = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.peak_rss_mib.items()))
            lines.append(f"{r.scenario}: peak RSS MiB: {peaks}")
        if r.reasons:
            parts = "; ".join(
                f"{kind}: " + ", ".join(f"{reason} {n}" for reason, n in sorted(got.items()))
                for kind, got in sorted(r.reasons.items())
            )
            lines.append(f"{r.scenario}: rejected by kind: {parts}")
        lines.extend(f"{r.scenario}: {note}" for note in r.notes)
        if r.error:
            lines.append(f"{r.scenario}: ERROR {r.error}")
    return "\n".join(lines)


def render_json(results: list[ScenarioResult]) -> str:
    """Return a JSON list with one object per scenario."""
    return json.dumps([r.to_json_dict() for r in results], indent=2)
