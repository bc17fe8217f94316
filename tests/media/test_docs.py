"""Every example in the media modules' docstrings runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "broker.media",
    "broker.media.bench",
    "broker.media.hashing",
    "broker.media.pool",
    "broker.media.references",
    "broker.media.scan",
    "broker.media.synthetic",
    "broker.media.walk",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(name))
    assert failures == 0 and tried > 0
