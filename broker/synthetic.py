"""Deterministic synthetic data: obviously fictitious people, numbers and hashes.

* Names are "Fictitious-<n>" / "Testperson" style; nothing resembles a real person.
* Phone numbers come from the UK range reserved for drama (Ofcom: +44 7700 900000-900999).
* E-mail addresses use ``example.org`` (RFC 2606); handles and groups carry a ``synth`` marker.
* Media hashes are SHA-256 (and MD5) of ``b"synthetic-media-<n>"``: never hashes of real
  material.
* Document numbers start with ``XX-TEST-``; device ids with ``TESTIMEI``.

Example::

    >>> d = example_dossier(seed=7)
    >>> d.persons[0].selectors[0].value.startswith("+4477009")
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from broker.models.codes import Codes, Evaluation
from broker.models.dossier import (
    Dossier,
    Group,
    IdentityDocument,
    Location,
    MediaReference,
    Person,
    SeizedDevice,
    Selector,
)

__all__ = ["example_dossier", "fake_phone", "media_hash", "media_md5"]

_GIVEN = ["Alex", "Sam", "Robin", "Kim", "Noa", "Eli", "Jo", "Ari", "Lou", "Max"]
_COUNTRIES = ["ES", "DE", "PT", "IT", "AR", "CL"]
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def fake_phone(n: int) -> str:
    """Return a number from the UK drama range +44 7700 900000-900999."""
    return f"+447700900{n % 1000:03d}"


def media_hash(n: int) -> str:
    """Return the SHA-256 of ``b"synthetic-media-<n>"`` (obviously not real material)."""
    return hashlib.sha256(f"synthetic-media-{n}".encode()).hexdigest()


def media_md5(n: int) -> str:
    """Return the MD5 of ``b"synthetic-media-<n>"`` (legacy digest beside :func:`media_hash`)."""
    return hashlib.md5(f"synthetic-media-{n}".encode(), usedforsecurity=False).hexdigest()


def perceptual_hash(n: int) -> str:
    """Return a synthetic 256-bit PDQ-style hash."""
    return hashlib.sha256(f"synthetic-pdq-{n}".encode()).hexdigest()


def synthetic_person(rng: random.Random, n: int, *, role: str = "SUSPECT") -> Person:
    """Return a fictitious person with a few selectors."""
    dob = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 35))
    family = f"Fictitious-{n:03d}"
    given = rng.choice(_GIVEN)
    return Person(
        person_ref=f"P{n:03d}",
        role=role,
        family_name=family,
        given_names=given,
        aliases=[f"synth_alias_{n:03d}"],
        date_of_birth=dob,
        nationalities=[rng.choice(_COUNTRIES)],
        documents=[
            IdentityDocument(type="PASSPORT", number=f"XX-TEST-{n:06d}", issuing_country="XX")
        ],
        selectors=[
            Selector(type="PHONE_E164", value=fake_phone(n)),
            Selector(type="EMAIL", value=f"fictitious.{n:03d}@example.org"),
            Selector(type="ONLINE_HANDLE", value=f"@synth_{n:03d}", platform="exampleforum"),
            Selector(type="NAME_DOB", value=f"{family}|{given}|{dob.isoformat()}"),
        ],
    )


def example_codes(rng: random.Random) -> Codes:
    """Return plausible codes."""
    return Codes(
        handling=rng.choice([["H0"], ["H0", "H1"], ["H0", "H2"]]),
        tlp=rng.choice(["GREEN", "AMBER", "AMBER_STRICT", "RED"]),
        pap=rng.choice(["GREEN", "AMBER"]),
        classification="RESTRICTED",
        evaluation=Evaluation(
            source=rng.choice(["A", "B", "C", "X"]), information=rng.choice(["I1", "I2", "I3"])
        ),
        legal_basis="Regulation (EU) 2016/794 Art. 19 (synthetic)",
        purpose="Synthetic exercise: prevent and combat crime",
        retention_review=dt.date(2029, 12, 31),
    )


def example_dossier(seed: int = 0) -> Dossier:
    """Return a valid synthetic dossier, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not crypto
    base = rng.randrange(0, 900)
    persons = [synthetic_person(rng, base + i) for i in range(rng.randint(1, 3))]
    group = Group(
        group_ref="G1",
        name=f"synthetic-group-{seed:04d}",
        kind="MESSAGING_GROUP",
        selectors=[
            Selector(type="MESSAGING_GROUP", value=f"synthgroup{seed:04d}", platform="examplechat")
        ],
        members=[p.person_ref for p in persons],
    )
    media = [
        MediaReference(
            sha256=media_hash(seed * 100 + i),
            perceptual_hash=perceptual_hash(seed * 100 + i) if i % 2 == 0 else None,
            perceptual_algorithm="PDQ" if i % 2 == 0 else None,
            category="CATEGORY_A_SYNTHETIC",
            series_id=f"SYNTH-SERIES-{seed % 7}",
            ai_generated=i % 3 == 0,
            device_ref="D1",
            md5=media_md5(seed * 100 + i),
            perceptual_quality=100 - 30 * i if i % 2 == 0 else None,
        )
        for i in range(rng.randint(1, 4))
    ]
    return Dossier(
        case_ref=f"CASE-SYNTH-{seed:05d}",
        message_id=f"MSG-SYNTH-{seed:05d}-001",
        codes=example_codes(rng),
        summary="Synthetic dossier generated for testing; every person and number is fictitious.",
        persons=persons,
        groups=[group],
        devices=[
            SeizedDevice(
                device_ref="D1",
                type="PHONE",
                storage_bytes=64 * 2**30,
                file_count=rng.randint(1000, 90000),
                media_file_count=len(media),
                identifiers=[Selector(type="DEVICE_ID", value=f"TESTIMEI{seed:07d}")],
            )
        ],
        media=media,
        locations=[Location(description="Synthetic place", country=rng.choice(_COUNTRIES))],
        created_at=_EPOCH + dt.timedelta(hours=seed),
    )
