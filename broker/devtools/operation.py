"""A deterministic synthetic operation, with the ground truth the hub must find.

Shaped like the public operations in the brief: about 25 invitation-only
messaging groups, about 130 suspects spread over six national units, some active
in groups of several countries, seized devices with media hash lists, some hashes
on the hub's known-material list, a share AI-generated. Everything is fictitious
(see :mod:`broker.synthetic`).

Ground truth: every normalized selector, group id or media hash that appears in
dossiers of two or more agencies is a cross-border link; every media hash on the
known-material list is a known-material hit.

Example::

    >>> op = generate_operation(seed=1)
    >>> len(op.dossiers) > 0 and len(op.cross_border) > 0
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field

from broker import topics
from broker.models import Codes, Dossier, Evaluation, Group, MediaReference, Selector
from broker.models.selectors import normalize_selector
from broker.synthetic import media_hash, perceptual_hash, synthetic_person

__all__ = ["Operation", "Publication", "generate_operation"]

UNITS = ["ES-PN", "DE-BKA", "PT-PJ", "IT-PS", "AR-PFA", "CL-PDI"]
HUB = topics.HUB
_EPOCH = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, kw_only=True)
class Publication:
    """One dossier a unit publishes, and to whom."""

    agency: str
    dossier: Dossier
    recipients: list[str]


@dataclass
class Operation:
    """The generated dossiers and the links a perfect hub reports."""

    dossiers: list[Publication] = field(default_factory=list)
    known_material: list[str] = field(default_factory=list)
    #: normalized selector -> agencies holding it (only those held by >= 2 agencies)
    cross_border: dict[str, set[str]] = field(default_factory=dict)
    #: media sha256 on the known-material list -> agencies holding it
    known_hits: dict[str, set[str]] = field(default_factory=dict)


def _codes(rng: random.Random, restricted: bool) -> Codes:
    return Codes(
        handling=["H0", "H2"] if restricted else rng.choice([["H0"], ["H0", "H1"]]),
        tlp=rng.choice(["RED", "AMBER_STRICT"]) if restricted else rng.choice(["GREEN", "AMBER"]),
        pap="AMBER",
        classification="RESTRICTED",
        evaluation=Evaluation(source=rng.choice(["A", "B", "C"]), information="I2"),
        legal_basis="Regulation (EU) 2016/794 Art. 19 (synthetic)",
        purpose="Synthetic operation against invitation-only groups",
        retention_review=dt.date(2030, 6, 30),
    )


def _keys(d: Dossier) -> set[str]:
    keys = set()
    for p in d.persons:
        keys |= {normalize_selector(s.type, s.value, s.platform) for s in p.selectors}
        keys |= {normalize_selector("DOCUMENT_NUMBER", doc.number) for doc in p.documents}
    for g in d.groups:
        keys |= {normalize_selector(s.type, s.value, s.platform) for s in g.selectors}
    keys |= {f"sha256:{m.sha256}" for m in d.media}
    return keys


def generate_operation(
    seed: int = 2026, *, groups: int = 25, suspects: int = 130, restricted_share: float = 0.25
) -> Operation:
    """Generate the operation (same seed, same operation)."""
    rng = random.Random(seed)  # noqa: S311 - deterministic synthetic data, not crypto
    op = Operation()
    home = {n: UNITS[n % len(UNITS)] for n in range(suspects)}
    membership: dict[int, list[int]] = {g: [] for g in range(groups)}
    for n in range(suspects):
        for g in rng.sample(range(groups), k=rng.choice([1, 1, 2])):
            membership[g].append(n)
    op.known_material = [media_hash(90_000 + i) for i in range(12)]
    media_counter = 0
    for g, members in membership.items():
        if not members:
            continue
        by_agency: dict[str, list[int]] = {}
        for n in members:
            by_agency.setdefault(home[n], []).append(n)
        shared_media = [media_hash(50_000 + g * 10 + i) for i in range(2)]
        for agency, people in sorted(by_agency.items()):
            foreign = [n for n in members if home[n] != agency]
            if foreign and rng.random() < 0.5:
                # A member from another country also appears in this agency's dossier.
                people = [*people, rng.choice(foreign)]
            media_counter += 1
            media = [
                MediaReference(
                    sha256=h,
                    perceptual_hash=perceptual_hash(50_000 + g),
                    perceptual_algorithm="PDQ",
                    category="CATEGORY_A_SYNTHETIC",
                    series_id=f"SYNTH-SERIES-{g:02d}",
                    ai_generated=rng.random() < 0.2,
                )
                for h in shared_media
            ]
            media.append(
                MediaReference(
                    sha256=media_hash(70_000 + media_counter),
                    category="CATEGORY_B_SYNTHETIC",
                    ai_generated=rng.random() < 0.3,
                )
            )
            if rng.random() < 0.3:
                media.append(
                    MediaReference(sha256=rng.choice(op.known_material), category="KNOWN_SYNTHETIC")
                )
            dossier = Dossier(
                case_ref=f"CASE-{agency}-G{g:02d}",
                message_id=f"MSG-{agency}-G{g:02d}-001",
                codes=_codes(rng, rng.random() < restricted_share),
                summary=f"Synthetic members of invitation-only group {g:02d} seen by {agency}.",
                persons=[synthetic_person(random.Random(n), n) for n in people],  # noqa: S311
                groups=[
                    Group(
                        group_ref=f"G{g:02d}",
                        name=f"synthetic-group-{g:02d}",
                        kind="MESSAGING_GROUP",
                        selectors=[
                            Selector(
                                type="MESSAGING_GROUP",
                                value=f"synthgroup{g:02d}",
                                platform="examplechat",
                            )
                        ],
                        members=[f"P{n:03d}" for n in people],
                    )
                ],
                media=media,
                created_at=_EPOCH + dt.timedelta(hours=g),
            )
            recipients = [HUB]
            if rng.random() < 0.25:
                recipients.append(rng.choice([u for u in UNITS if u != agency]))
            op.dossiers.append(Publication(agency=agency, dossier=dossier, recipients=recipients))
    holders: dict[str, set[str]] = {}
    for pub in op.dossiers:
        for key in _keys(pub.dossier):
            holders.setdefault(key, set()).add(pub.agency)
    op.cross_border = {k: v for k, v in holders.items() if len(v) >= 2}
    known = set(op.known_material)
    op.known_hits = {
        k.removeprefix("sha256:"): v
        for k, v in holders.items()
        if k.startswith("sha256:") and k.removeprefix("sha256:") in known
    }
    return op


def digest(op: Operation) -> str:
    """Return a short fingerprint of the operation (to show determinism)."""
    h = hashlib.sha256()
    for pub in op.dossiers:
        h.update(pub.dossier.to_bytes())
    return h.hexdigest()[:16]
