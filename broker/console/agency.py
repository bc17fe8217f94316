"""What a national unit's pages show, read from its own state store (read-only).

The inbox rows, the filters analysts use (case, sender, handling codes, TLP, selector,
date), a dossier's handling codes as analysts read them, receipts of what the agency
sent, and the hit notifications and release requests the hub sent it. Nothing here
writes: actions go through :mod:`broker.console.actions`.

Example::

    >>> from broker.synthetic import example_dossier
    >>> codes = example_dossier(3).codes.model_dump()
    >>> view = handling_view({**codes, "handling": ["H2"], "tlp": "GREEN"})
    >>> view["banner"]
    "H2: not to be disseminated without the originator's permission"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from broker import home
from broker.agency.store import AgencyStore, InboxItem
from broker.codec import SchemaStore
from broker.config import Settings
from broker.errors import Error
from broker.hub.grant import ReleaseRequest, release_requests
from broker.models import Dossier

__all__ = [
    "InboxFilter",
    "InboxRow",
    "handling_view",
    "hit_notifications",
    "inbox_rows",
    "open_store",
    "received_requests",
    "sent_items",
]

_TLP_LABEL = {"AMBER_STRICT": "AMBER+STRICT"}
_BANNERS = {
    "H2": "H2: not to be disseminated without the originator's permission",
    "RED": "TLP:RED: for the eyes of the named recipients only",
    "AMBER_STRICT": "TLP:AMBER+STRICT: restricted to the recipient organisation only",
}
_SOURCE = {"A": "completely reliable", "B": "usually reliable", "C": "fairly reliable", "X": "?"}
_INFO = {
    "I1": "known to be true",
    "I2": "known personally to the source",
    "I3": "not known personally, corroborated",
    "I4": "cannot be judged",
}


def handling_view(codes: Mapping[str, Any]) -> dict[str, Any]:
    """Handling codes as analysts read them: H-codes, TLP colour, 4x4 evaluation, banners."""
    tlp = str(codes.get("tlp", ""))
    handling = [str(h) for h in codes.get("handling", [])]
    ev = codes.get("evaluation") or {}
    banners = [_BANNERS[h] for h in handling if h in _BANNERS]
    if tlp in _BANNERS:
        banners.append(_BANNERS[tlp])
    return {
        "handling": handling,
        "h3": codes.get("h3_restrictions"),
        "tlp": _TLP_LABEL.get(tlp, tlp),
        "tlp_class": tlp.lower().replace("_", "-"),
        "pap": codes.get("pap"),
        "classification": codes.get("classification"),
        "evaluation": f"{ev.get('source', '?')}{str(ev.get('information', '?'))[-1:]}",
        "source_text": _SOURCE.get(str(ev.get("source")), "?"),
        "information_text": _INFO.get(str(ev.get("information")), "?"),
        "banner": banners[0] if banners else None,
        "banners": banners,
        "legal_basis": codes.get("legal_basis"),
        "purpose": codes.get("purpose"),
        "retention_review": str(codes.get("retention_review", "")),
    }


@contextmanager
def open_store(settings: Settings, agency: str) -> Iterator[AgencyStore | None]:
    """The agency's state store (None while the agency never received anything).

    A normal WAL connection, as every CLI command of the agency opens, beside the
    console's own consumer (``--follow``): opening it must not disturb that consumer's
    locks (see :func:`broker.home.private_file`).
    """
    path = home.agency_db(settings, agency)
    if not path.exists():
        yield None
        return
    store = AgencyStore.open(path)
    try:
        yield store
    finally:
        store.close()


@dataclass(frozen=True, kw_only=True)
class InboxRow:
    """One received dossier as the inbox lists it."""

    envelope_id: str
    sender: str
    received_at: float
    codes: dict[str, Any]
    dossier: Dossier | None
    selectors: list[str] = field(default_factory=list)

    @property
    def received(self) -> str:
        """Arrival time, UTC, to the second."""
        return dt.datetime.fromtimestamp(self.received_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def case_ref(self) -> str:
        """The dossier's case reference ('' if its payload does not decode)."""
        return self.dossier.case_ref if self.dossier else ""

    def to_json_dict(self) -> dict[str, Any]:
        """What the live inbox (console.js) renders."""
        view = handling_view(self.codes)
        return {
            "envelope_id": self.envelope_id,
            "sender": self.sender,
            "received": self.received,
            "case_ref": self.case_ref,
            "summary": self.dossier.summary[:120] if self.dossier else "",
            "handling": " ".join(view["handling"]),
            "tlp": view["tlp"],
            "tlp_class": view["tlp_class"],
            "evaluation": view["evaluation"],
            "restricted": bool(view["banner"]),
            "href": f"/dossier/{self.sender}/{self.envelope_id}",
        }


def _selectors(d: Dossier) -> list[str]:
    out = [s.value for p in d.persons for s in p.selectors]
    out += [doc.number for p in d.persons for doc in p.documents]
    out += [s.value for g in d.groups for s in g.selectors]
    out += [s.value for dev in d.devices for s in dev.identifiers]
    out += [m.sha256 for m in d.media]
    return out


_CACHE: dict[tuple[str, str, str], InboxRow] = {}


def _row(store: AgencyStore, item: InboxItem) -> InboxRow:
    key = (str(store.path), item.sender, item.envelope_id)
    row = _CACHE.get(key)
    if row is None:
        try:
            dossier: Dossier | None = Dossier.from_bytes(item.payload)
        except (Error, ValueError):
            dossier = None  # shown by its envelope and codes only
        row = InboxRow(
            envelope_id=item.envelope_id,
            sender=item.sender,
            received_at=item.received_at,
            codes=dict(item.provenance.get("codes", {})),
            dossier=dossier,
            selectors=_selectors(dossier) if dossier else [],
        )
        _CACHE[key] = row
    return row


@dataclass(frozen=True, kw_only=True)
class InboxFilter:
    """The inbox search: every given field must match."""

    case: str = ""
    sender: str = ""
    handling: str = ""
    tlp: str = ""
    selector: str = ""
    date_from: str = ""
    date_to: str = ""

    @classmethod
    def of(cls, params: Mapping[str, str]) -> InboxFilter:
        """Build from query parameters (unknown ones ignored)."""
        return cls(**{k: params.get(k, "").strip() for k in cls.__dataclass_fields__})

    def query(self) -> dict[str, str]:
        """The non-empty fields (to rebuild a URL)."""
        return {k: v for k, v in vars(self).items() if v}

    def matches(self, row: InboxRow) -> bool:
        """Whether ``row`` passes every given field."""
        view = handling_view(row.codes)
        day = row.received[:10]
        needle = self.selector.lower()
        return (
            (not self.case or self.case.lower() in row.case_ref.lower())
            and (not self.sender or self.sender == row.sender)
            and (not self.handling or self.handling in view["handling"])
            and (not self.tlp or self.tlp == view["tlp"])
            and (not needle or any(needle in s.lower() for s in row.selectors))
            and (not self.date_from or day >= self.date_from)
            and (not self.date_to or day <= self.date_to)
        )


def inbox_rows(settings: Settings, agency: str, flt: InboxFilter | None = None) -> list[InboxRow]:
    """The received dossiers, newest first, that pass ``flt``."""
    with open_store(settings, agency) as store:
        if store is None:
            return []
        rows = [_row(store, item) for item in store.inbox(kind="DOSSIER")]
    rows.reverse()
    return [r for r in rows if flt is None or flt.matches(r)]


def sent_items(settings: Settings, agency: str) -> list[dict[str, Any]]:
    """What the agency published (dossiers and grants), with each recipient's receipt status."""
    with open_store(settings, agency) as store:
        items = store.sent() if store is not None else []
    return [
        {
            "envelope_id": i.envelope_id,
            "kind": i.kind,
            "sequence": i.sequence,
            "sent": dt.datetime.fromtimestamp(i.sent_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "status": i.status,
        }
        for i in reversed(items)
    ]


def hit_notifications(settings: Settings, agency: str) -> list[dict[str, Any]]:
    """The hub's hit notifications to this agency, newest first."""
    codec = SchemaStore.default()
    with open_store(settings, agency) as store:
        items = store.inbox(kind="HIT_NOTIFICATION") if store is not None else []
    out = []
    for item in reversed(items):
        hit = codec.decode("eu.fed.HitNotification", item.payload)
        out.append({**hit, "envelope_id": item.envelope_id})
    return out


def received_requests(settings: Settings, agency: str) -> list[ReleaseRequest]:
    """The release requests the hub sent this agency, newest first."""
    with open_store(settings, agency) as store:
        return list(reversed(release_requests(store))) if store is not None else []
