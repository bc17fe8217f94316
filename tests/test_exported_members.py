"""Each public package's ``__all__`` is sorted and is exactly what it exports (httpx style)."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "broker",
    "broker.agency",
    "broker.audit",
    "broker.envelope",
    "broker.hub",
    "broker.local",
    "broker.matching",
    "broker.merkle",
    "broker.models",
    "broker.trust",
]


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    rank = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return rank, name


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_every_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for member in exported:
        assert getattr(module, member) is not None, member


@pytest.mark.parametrize("name", [p for p in PACKAGES if p != "broker"])
def test_every_public_name_in_the_namespace_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_")
        and not isinstance(value, types.ModuleType)
        and key != "annotations"
    }
    assert public == set(module.__all__)
