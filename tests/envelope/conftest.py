"""Shared envelope fixtures: a real in-memory federation and sample payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from broker.codec import SchemaStore
from broker.trust.testing import UnsafeTestFederation

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
AGENCIES = ["ES-PN", "DE-BKA", "PT-PJ", "IT-PS", "EUROPOL"]


@pytest.fixture(scope="session")
def fed() -> UnsafeTestFederation:
    return UnsafeTestFederation.create(agencies=AGENCIES, now=NOW)


@pytest.fixture(scope="session")
def codes() -> dict[str, Any]:
    return {
        "handling": ["H0", "H2"],
        "h3_restrictions": None,
        "tlp": "AMBER",
        "pap": "GREEN",
        "classification": "RESTRICTED",
        "evaluation": {"source": "B", "information": "I2"},
        "legal_basis": "Regulation (EU) 2016/794 Art. 19",
        "purpose": "synthetic test",
        "retention_review": dt.date(2029, 1, 1),
    }


@pytest.fixture(scope="session")
def payload() -> bytes:
    # Any single-object encoded value will do; an Evaluation keeps tests independent of models.
    return SchemaStore.default().encode("eu.fed.Evaluation", {"source": "A", "information": "I1"})
