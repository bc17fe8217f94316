"""What the hub's pages show: linked clusters as a graph, hits, release requests, hash lists.

The hub's index is opened on a read-only SQLite connection (the running hub writes it);
nothing here saves an index snapshot. A restricted holding (H2, TLP:RED, AMBER+STRICT)
is drawn as "permission required", never with its agency, as the hub's messages do.

The cluster picture is laid out here and drawn as SVG by the template (no script): the
shared keys (selectors, groups, documents, media) on an inner ring, the dossiers holding
them on an outer ring, one colour per agency.

Example::

    >>> import tempfile, pathlib
    >>> from broker.hub.index import HubIndex
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "hub.db"
    >>> HubIndex.open(path).close()
    >>> with open_index(path) as index:
    ...     graph_clusters(index) == []
    True
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker._internal.sqlite import open_read_only
from broker.errors import ConfigError
from broker.hub.index import HubIndex
from broker.hub.report import build_report

__all__ = ["GraphCluster", "graph_clusters", "hub_summary", "open_index"]

#: One colour per agency, in order of first appearance (colour-blind safe palette).
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442"]
KEY_KINDS = {
    "phone": "phone",
    "email": "e-mail",
    "messaging_account": "account",
    "messaging_group": "group",
    "online_handle": "handle",
    "document": "document",
    "name_dob": "person",
    "device": "device",
    "sha256": "media",
    "pdq": "media (PDQ)",
}


@contextmanager
def open_index(path: Path) -> Iterator[HubIndex]:
    """The hub index at ``path`` on a read-only connection (closed without saving)."""
    db = open_read_only(path, busy_timeout_ms=30_000)
    try:
        try:
            index = HubIndex(db=db, snapshot=None)
        except sqlite3.Error as exc:  # e.g. an index the hub of this release never opened
            raise ConfigError(
                "cannot read the hub index: run `broker hub run` of this release once",
                detail=f"{path}: {exc}",
            ) from exc
        yield index
    finally:
        db.close()


@dataclass(frozen=True, kw_only=True)
class Node:
    """One drawn node."""

    x: float
    y: float
    label: str
    title: str
    kind: str  # "key" or "holding"
    colour: str


@dataclass(frozen=True, kw_only=True)
class GraphCluster:
    """One connected cluster of dossiers across agencies, laid out for SVG."""

    number: int
    agencies: list[str]
    dossiers: int
    keys: int
    nodes: list[Node]
    edges: list[tuple[float, float, float, float]]
    size: int


Dossier = tuple[str, str]  # (agency, envelope id)


def _clusters(index: HubIndex) -> list[tuple[set[Dossier], set[str], set[Dossier]]]:
    """Connected components: (dossiers, keys linking them, the restricted dossiers)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    holdings = {key: index.holdings(key) for key in index.links()}
    for hs in holdings.values():
        nodes = [(h.agency, h.envelope_id) for h in hs]
        for node in nodes[1:]:
            parent[find(node)] = find(nodes[0])
    groups: dict[Dossier, tuple[set[Dossier], set[str], set[Dossier]]] = {}
    for key, hs in holdings.items():
        root = find((hs[0].agency, hs[0].envelope_id))
        members, keys, hidden = groups.setdefault(root, (set(), set(), set()))
        members.update((h.agency, h.envelope_id) for h in hs)
        hidden.update((h.agency, h.envelope_id) for h in hs if h.restricted)
        keys.add(key)
    return sorted(groups.values(), key=lambda g: (-len(g[0]), sorted(g[0])))


def graph_clusters(
    index: HubIndex, *, limit: int = 6, max_keys: int = 24, size: int = 420
) -> list[GraphCluster]:
    """The ``limit`` largest clusters, laid out on two rings (keys inside, dossiers outside)."""
    colours: dict[str, str] = {}
    out = []
    for number, (members, keys, hidden) in enumerate(_clusters(index)[:limit], start=1):
        shown = sorted(keys)[:max_keys]
        holds = {key: index.holdings(key) for key in shown}
        dossiers = sorted({(h.agency, h.envelope_id) for hs in holds.values() for h in hs})
        restricted = {
            (h.agency, h.envelope_id) for hs in holds.values() for h in hs if h.restricted
        }
        c = size / 2
        pos: dict[Any, tuple[float, float]] = {}
        nodes = []
        for i, key in enumerate(shown):
            a = 2 * math.pi * i / max(len(shown), 1)
            pos[key] = (c + c * 0.38 * math.cos(a), c + c * 0.38 * math.sin(a))
            kind = KEY_KINDS.get(key.split(":", 1)[0], key.split(":", 1)[0])
            nodes.append(
                Node(
                    x=pos[key][0],
                    y=pos[key][1],
                    label=kind,
                    title=f"{kind}: {key.split(':', 1)[-1]}",
                    kind="key",
                    colour="#555",
                )
            )
        for i, holder in enumerate(dossiers):
            a = 2 * math.pi * (i + 0.5) / max(len(dossiers), 1)
            pos[holder] = (c + c * 0.82 * math.cos(a), c + c * 0.82 * math.sin(a))
            secret = holder in restricted
            agency = holder[0]
            colour = "#999" if secret else colours.setdefault(agency, PALETTE[len(colours) % 7])
            nodes.append(
                Node(
                    x=pos[holder][0],
                    y=pos[holder][1],
                    label="permission required" if secret else agency,
                    title="hit, permission required"
                    if secret
                    else f"{agency} dossier {holder[1][:12]}",
                    kind="holding",
                    colour=colour,
                )
            )
        edges = [
            (*pos[key], *pos[(h.agency, h.envelope_id)]) for key, hs in holds.items() for h in hs
        ]
        visible = sorted({a for a, e in members if (a, e) not in hidden})
        out.append(
            GraphCluster(
                number=number,
                agencies=visible + (["permission required"] if hidden else []),
                dossiers=len(members),
                keys=len(keys),
                nodes=nodes,
                edges=edges,
                size=size,
            )
        )
    return out


def hub_summary(index: HubIndex) -> dict[str, Any]:
    """The hub report plus the hash lists it follows and its released hits."""
    report = build_report(index)
    lists: dict[str, int] = {}
    for entry in index.lists.state.entries():
        lists[entry.topic] = lists.get(entry.topic, 0) + 1
    offsets = index.lists.state.next_offsets()
    report["hash_lists"] = [
        {
            "topic": topic,
            "entries": n,
            "next_offset": sum(o for (t, _), o in offsets.items() if t == topic),
        }
        for topic, n in sorted(lists.items())
    ]
    answered = index.release_requests(status="GRANTED")
    report["released"] = [r for r in answered if r["released_to"]]
    report["denied"] = [r for r in answered if not r["released_to"]]
    report["known_hits"] = sorted(
        (sha, sorted(agencies)) for sha, agencies in index.known_hits().items()
    )
    return report
