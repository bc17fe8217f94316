"""Retention review: holders erase a dossier past its review unless its owner extended it.

A held dossier's review time is the earlier of the end (UTC) of its codes'
``retention_review`` date (the owner's, or a restriction's) and ``received_at`` plus the
federation's review period (``Settings.review_period_s``: 5 years by default, seconds in
tests). An ``EXTEND`` order from the owner (:func:`broker.agency.control.extend`) restarts
it: ``until = order time + review period``. Past its review the dossier is erased exactly
as a recall erases it (store row, at-rest key, the hub's index entries, a tombstone that
refuses Kafka copies), and a ``RETENTION`` audit event (``expired``) is written; an
extension writes one too (``extended``).

Example::

    >>> import datetime as dt
    >>> review_at(received_at=0.0, codes={"retention_review": dt.date(1970, 1, 3)},
    ...           period=dt.timedelta(days=5), extended=None)
    259200.0
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from broker.agency.ledger import ComplianceLedger
from broker.models.codes import codes_from_json

__all__ = ["DEFAULT_REVIEW_PERIOD", "due", "extend_review", "review_at"]

DEFAULT_REVIEW_PERIOD = dt.timedelta(days=5 * 365)


def review_at(
    *,
    received_at: float,
    codes: dict[str, Any],
    period: dt.timedelta,
    extended: float | None,
) -> float:
    """Return when a held dossier is due for erasure (Unix seconds)."""
    if extended is not None:
        return extended
    day = codes["retention_review"]
    end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
    return min(end_of_day, received_at + period.total_seconds())


def due(db: sqlite3.Connection, *, now: float, period: dt.timedelta) -> list[tuple[str, str, str]]:
    """Return (owner, envelope id, review date) of every held dossier past its review.

    Reads the ``reviews`` index (:mod:`broker.agency.store_schema`): the rows past the
    owner's date or the federation's period, then each restricted or extended dossier
    (few) on its own — not every stored dossier.
    """
    extended = {
        (str(o), str(e)): float(u)
        for o, e, u in db.execute("SELECT owner, envelope_id, until FROM extended")
    }
    restricted = {
        (str(o), str(e)): codes_from_json(json.loads(c))
        for o, e, c in db.execute("SELECT owner, envelope_id, codes FROM restricted")
    }
    today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    out = sorted(
        (str(o), str(e), str(r or ""))
        for o, e, r in db.execute(
            "SELECT sender, envelope_id, review FROM reviews WHERE review < ? "
            "UNION SELECT sender, envelope_id, review FROM reviews WHERE received_at <= ?",
            (today, now - period.total_seconds()),
        )
        if (o, e) not in extended and (o, e) not in restricted
    )
    for key in sorted(extended.keys() | restricted.keys()):
        row = db.execute(
            "SELECT received_at, review FROM reviews WHERE sender = ? AND envelope_id = ?", key
        ).fetchone()
        if row is None:  # not held here (any more)
            continue
        received_at, review = float(row[0]), row[1]
        if key in restricted:
            codes = restricted[key]
            review = codes["retention_review"].isoformat()
            at = review_at(
                received_at=received_at, codes=codes, period=period, extended=extended.get(key)
            )
        else:
            at = extended[key]
        if at <= now:
            out.append((key[0], key[1], str(review or "")))
    return out


def extend_review(
    ledger: ComplianceLedger, *, owner: str, envelope_id: str, order: str, until: float
) -> bool:
    """Record the owner's ``EXTEND`` order (review restarts, ends at ``until``), answered
    APPLIED, in ONE transaction; return whether the dossier is held here at all.
    """
    with ledger.transaction() as db:
        held = (
            db.execute(
                "SELECT 1 FROM inbox WHERE sender = ? AND envelope_id = ?", (owner, envelope_id)
            ).fetchone()
            is not None
        )
        db.execute(
            "INSERT OR REPLACE INTO extended VALUES (?, ?, ?, ?)",
            (owner, envelope_id, until, order),
        )
        ledger.note_answer(
            db,
            order_id=order,
            owner=owner,
            envelope_id=envelope_id,
            action="EXTEND",
            status="APPLIED",
            ground=None,
        )
    return held
