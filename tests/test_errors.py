"""The error tree drawn in ``broker/errors.py`` is the tree the code raises.

Modelled on httpx's check that every exception is mapped: walk every subclass of
:class:`broker.errors.Error` that the runtime defines and require it in the
drawing, under its real parent, with a stable reason code.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import broker
from broker import errors

# Reason codes stored in audit reports before the kebab-case rule; renaming them changes
# stored data, so it needs a migration note, not a silent rename.
_LEGACY_REASONS = {"audit_proof", "witness_refused"}


def _import_runtime() -> None:
    for info in pkgutil.walk_packages(broker.__path__, "broker."):
        if not info.name.startswith(("broker.devtools", "broker.cli")) and not info.name.endswith(
            "__main__"
        ):
            importlib.import_module(info.name)


def _runtime_errors() -> list[type[errors.Error]]:
    _import_runtime()
    seen: list[type[errors.Error]] = []
    todo = [errors.Error]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in seen if not c.__module__.startswith("broker.devtools")]


def _drawn_tree() -> dict[str, str | None]:
    """Map each class name in the docstring drawing to its parent's name."""
    doc = errors.__doc__ or ""
    drawing = doc.split("The tree::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    base: int | None = None
    for line in drawing.splitlines():
        match = re.match(r"^([ │├└─]*)(\w+)", line)
        if not match:
            continue
        column = len(match.group(1))
        base = column if base is None else base
        depth = (column - base) // 4
        name = match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def test_every_runtime_error_class_is_drawn_under_its_parent() -> None:
    drawn = _drawn_tree()
    for cls in _runtime_errors():
        assert cls.__name__ in drawn, f"{cls.__name__} ({cls.__module__}) missing from the tree"
        parent = cls.__mro__[1].__name__ if cls is not errors.Error else None
        assert drawn[cls.__name__] == parent, f"{cls.__name__} drawn under {drawn[cls.__name__]}"


def test_the_drawing_names_no_class_that_does_not_exist() -> None:
    names = {cls.__name__ for cls in _runtime_errors()}
    assert set(_drawn_tree()) <= names


def test_every_runtime_error_lives_in_errors_py() -> None:
    assert [c.__name__ for c in _runtime_errors() if c.__module__ != "broker.errors"] == []


def test_reason_codes_are_stable_kebab_case_and_unique() -> None:
    reasons = [c.reason for c in _runtime_errors() if "reason" in c.__dict__]
    assert len(reasons) == len(set(reasons))
    for reason in reasons:
        assert reason in _LEGACY_REASONS or re.fullmatch(r"[a-z]+(-[a-z]+)*", reason), reason
