"""Hub reports: clusters of linked dossiers across agencies, counts, pending requests.

A cluster is a connected component of the graph whose nodes are dossiers
(agency, envelope) and whose edges are keys shared by two or more agencies.

Example::

    >>> import tempfile, pathlib
    >>> from broker.hub.index import HubIndex
    >>> build_report(HubIndex.open(pathlib.Path(tempfile.mkdtemp()) / "h.db"))["links"]
    0
"""

from __future__ import annotations

from typing import Any

from broker.hub.index import HubIndex

__all__ = ["build_report", "explain"]


def build_report(index: HubIndex) -> dict[str, Any]:
    """Return clusters, per-agency counts and pending release requests."""
    links = index.links()
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key in links:
        nodes = [(h.agency, h.envelope_id) for h in index.holdings(key)]
        for node in nodes[1:]:
            parent[find(node)] = find(nodes[0])
    clusters: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for node in list(parent):
        clusters.setdefault(find(node), set()).add(node)
    per_agency: dict[str, int] = {}
    for agencies in links.values():
        for a in agencies:
            per_agency[a] = per_agency.get(a, 0) + 1
    return {
        "links": len(links),
        "links_by_type": _by_type(links),
        "clusters": sorted(
            (
                {"agencies": sorted({a for a, _ in members}), "dossiers": len(members)}
                for members in clusters.values()
            ),
            key=lambda c: (-c["dossiers"], c["agencies"]),
        ),
        "links_per_agency": dict(sorted(per_agency.items())),
        "known_material_hits": len(index.known_hits()),
        "quarantined_list_entries": [
            {"topic": topic, "entry_id": entry, "distinct_media": n}
            for topic, entry, n in index.lists.quarantined()
        ],
        "pending_release_requests": index.release_requests(status="PENDING"),
    }


def _by_type(links: dict[str, set[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in links:
        kind = key.split(":", 1)[0]
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def explain(index: HubIndex, key: str) -> dict[str, Any]:
    """Explain one link for hub analysts: who holds it, restricted or not."""
    holdings = index.holdings(key)
    return {
        "key": key,
        "agencies": sorted({h.agency for h in holdings}),
        "holdings": [
            {
                "agency": h.agency,
                "envelope_id": h.envelope_id,
                "status": "hit, permission required" if h.restricted else "releasable",
            }
            for h in holdings
        ],
    }
