"""Hash-list files: CSV or JSON Lines with ``sha256, md5, pdq, category, series`` columns.

Optional columns: ``source`` and ``entry_id`` (default: the SHA-256, else the MD5,
else ``pdq-`` + the PDQ hash). Every row needs at least one hash; hashes are
lower-cased. A line-per-hash file of bare SHA-256 values (the hub's old
``--known-material`` format) is read as CSV without a header. A bad row raises
:class:`~broker.errors.HashListError` naming its line; nothing is skipped.

Example::

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "l.csv"
    >>> _ = p.write_text("sha256,category\\n" + "ab" * 32 + ",A\\n")
    >>> [(r["entry_id"][:4], r["category"]) for r in read_entries(p)]
    [('abab', 'A')]
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from broker.errors import HashListError

__all__ = ["COLUMNS", "read_entries", "write_entries"]

COLUMNS = ("entry_id", "sha256", "md5", "pdq", "category", "series", "source")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def _row(raw: dict[str, Any], where: str) -> dict[str, str | None]:
    unknown = set(raw) - set(COLUMNS)
    if unknown:
        raise HashListError(
            "unknown column in a hash-list file", detail=f"{where}: {sorted(unknown)}"
        )
    row: dict[str, str | None] = {}
    for col in COLUMNS:
        value = raw.get(col)
        text = None if value is None or str(value).strip() == "" else str(value).strip()
        row[col] = text.lower() if text and col in ("sha256", "md5", "pdq") else text
    if not (row["sha256"] or row["md5"] or row["pdq"]):
        raise HashListError("a hash-list row needs a sha256, md5 or pdq", detail=where)
    row["entry_id"] = row["entry_id"] or row["sha256"] or row["md5"] or f"pdq-{row['pdq']}"
    return row


def read_entries(path: Path) -> list[dict[str, str | None]]:
    """Read a CSV (``.csv``, ``.txt``, anything else) or JSON Lines (``.jsonl``) list file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HashListError("cannot read the hash-list file", detail=str(path)) from exc
    out: list[dict[str, str | None]] = []
    if path.suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HashListError("malformed JSON line", detail=f"{path}:{n}") from exc
            if not isinstance(raw, dict):
                raise HashListError("a JSON line must be an object", detail=f"{path}:{n}")
            out.append(_row(raw, f"{path}:{n}"))
        return out
    first = text.lstrip().split("\n", 1)[0].strip()
    if _HEX64.fullmatch(first):  # bare SHA-256 values, one per line
        return [_row({"sha256": h}, f"{path}:{n}") for n, h in enumerate(text.split(), 1)]
    for n, raw in enumerate(csv.DictReader(io.StringIO(text)), 2):
        out.append(_row(dict(raw), f"{path}:{n}"))
    return out


def write_entries(rows: Iterable[dict[str, Any]], *, jsonl: bool) -> str:
    """Return ``rows`` as a CSV (with header) or JSON Lines text, in :data:`COLUMNS` order."""
    if jsonl:
        return "".join(
            json.dumps({c: r.get(c) for c in COLUMNS}, sort_keys=False) + "\n" for r in rows
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r.get(c) or "" for c in COLUMNS})
    return buf.getvalue()
