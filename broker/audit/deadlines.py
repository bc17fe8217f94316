"""Request deadline statistics from the audit log: what Directive 2023/977 reporting asks.

Per responding agency and urgency: how many requests it received, how many it
answered (final reply or refusal), how many in time, and the median answer time.
Computed from audited events only:

* a request: the responder's ``REQUEST`` event with outcome ``received``
  (``envelope_id`` = request id, ``reason`` = urgency, ``parties`` = [requester,
  responder]);
* its start: the router's ``DELIVER`` of that envelope to the responder (the
  router's clock, the same stamp the node's deadline runs from; the ``received``
  event's time if the router's stream lacks it);
* its answer: the first ``REQUEST`` event with outcome ``replied`` or ``refused``
  whose ``ref`` is the request id; its time is the router's ``ROUTE`` of the answer
  envelope (else the responder's event time);
* in time: answer - start <= the urgency's limit (times ``scale`` — a compressed
  clock for tests and demos only). A request without an answer counts as late
  once its limit passed by the log's newest event, and as pending before.

Example::

    >>> deadline_statistics([])
    {}
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from broker.audit.events import AuditEvent, AuditKind
from broker.topics import ROUTER

__all__ = ["deadline_statistics"]

#: Directive (EU) 2023/977 Art. 5(1); the same table as broker.requests.model (which
#: the audit package does not import: an auditor reads the log, not the workflow).
LIMITS = {
    "URGENT_DIRECT": dt.timedelta(hours=8),
    "URGENT_INDIRECT": dt.timedelta(days=3),
    "STANDARD": dt.timedelta(days=7),
}
_FINAL = ("replied", "refused")


@dataclass
class _Request:
    requester: str
    responder: str
    urgency: str
    received: dt.datetime


def deadline_statistics(
    events: Iterable[AuditEvent], *, scale: float = 1.0
) -> dict[str, dict[str, Any]]:
    """Return ``{responder: {"all": {...}, "<urgency>": {...}}}`` (module docstring).

    Each figure set: ``requests``, ``answered``, ``in_time``, ``late``, ``pending``,
    ``share_in_time`` (in time / (answered + late), None if none) and
    ``median_answer_s`` (None if nothing was answered).
    """
    requests: dict[str, _Request] = {}
    delivered: dict[tuple[str, str], dt.datetime] = {}
    routed: dict[str, dt.datetime] = {}
    answers: dict[str, tuple[str, dt.datetime]] = {}
    newest: dt.datetime | None = None
    for ev in events:
        newest = ev.at if newest is None or ev.at > newest else newest
        if ev.actor == ROUTER and ev.envelope_id:
            if ev.kind == AuditKind.DELIVER and len(ev.parties) >= 2:
                delivered.setdefault((ev.envelope_id, ev.parties[1]), ev.at)
            elif ev.kind == AuditKind.ROUTE:
                routed.setdefault(ev.envelope_id, ev.at)
        elif ev.kind == AuditKind.REQUEST and ev.ref and len(ev.parties) >= 2:
            if ev.outcome == "received" and ev.reason in LIMITS:
                requests.setdefault(
                    ev.ref, _Request(ev.parties[0], ev.parties[1], ev.reason, ev.at)
                )
            elif ev.outcome in _FINAL and ev.envelope_id:
                prior = answers.get(ev.ref)
                if prior is None or ev.at < prior[1]:
                    answers[ev.ref] = (ev.envelope_id, ev.at)
    rows: dict[str, dict[str, list[tuple[str, float | None]]]] = {}
    for request_id, req in requests.items():
        start = delivered.get((request_id, req.responder), req.received)
        limit = (LIMITS[req.urgency] * scale).total_seconds()
        answer = answers.get(request_id)
        if answer is not None:
            end = routed.get(answer[0], answer[1])
            took = (end - start).total_seconds()
            verdict: tuple[str, float | None] = ("in_time" if took <= limit else "late", took)
        elif newest is not None and (newest - start).total_seconds() > limit:
            verdict = ("late", None)
        else:
            verdict = ("pending", None)
        per = rows.setdefault(req.responder, {})
        per.setdefault("all", []).append(verdict)
        per.setdefault(req.urgency.lower().replace("_", "-"), []).append(verdict)
    return {
        agency: {group: _figures(verdicts) for group, verdicts in sorted(groups.items())}
        for agency, groups in sorted(rows.items())
    }


def _figures(verdicts: list[tuple[str, float | None]]) -> dict[str, Any]:
    took = [t for _, t in verdicts if t is not None]
    in_time = sum(1 for v, _ in verdicts if v == "in_time")
    late = sum(1 for v, _ in verdicts if v == "late")
    decided = in_time + late
    return {
        "requests": len(verdicts),
        "answered": len(took),
        "in_time": in_time,
        "late": late,
        "pending": sum(1 for v, _ in verdicts if v == "pending"),
        "share_in_time": round(in_time / decided, 4) if decided else None,
        "median_answer_s": round(statistics.median(took), 3) if took else None,
    }
