"""Save and load named numpy arrays as a verified, atomically replaced snapshot.

Layout of a saved index directory::

    <path>/CURRENT              "snap-<32 hex>\\n<SHA-256 of its manifest.json, hex>\\n"
    <path>/snap-<32 hex>/manifest.json
    <path>/snap-<32 hex>/<array name>.npy      NumPy format 1.0, C order

A save writes a new ``snap-*`` directory (every file fsynced), then replaces
``CURRENT`` with an atomic rename — the only step that makes it visible — and
then removes older snapshots, so a crash leaves the old index or the new one,
never a mix. A load checks the manifest against ``CURRENT``, each file's size and
SHA-256 against the manifest, and each array's dtype and shape; any difference
is an :class:`~broker.errors.IndexCorruptError`, never a silently wrong answer.
Arrays are then memory-mapped read-only (or read, with ``mmap=False``), so a
restart costs one hash pass over the files rather than a rebuild.
``docs/matching.md`` gives the byte-exact format.

Example::

    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "idx"
    >>> write(path, meta={"rows": 3}, arrays={"ids": np.arange(3, dtype=np.uint64)})
    >>> meta, arrays = read(path)
    >>> meta["rows"], arrays["ids"].tolist()
    (3, [0, 1, 2])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from broker.errors import IndexCorruptError, MatchingError

__all__ = ["FORMAT", "VERSION", "read", "write"]

#: ``format`` field of every manifest.
FORMAT = "dossier-broker/hash-index"
#: ``version`` field of manifests this code writes and reads.
VERSION = 1

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_SNAP = re.compile(r"snap-[0-9a-f]{32}")
_CURRENT = "CURRENT"
_MANIFEST = "manifest.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write(path: Path, *, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
    """Write ``arrays`` and ``meta`` as a new snapshot at ``path`` and make it current."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        snap = f"snap-{secrets.token_hex(16)}"
        tmp = path / snap
        tmp.mkdir()
        entries: dict[str, dict[str, Any]] = {}
        for name, array in sorted(arrays.items()):
            if not _NAME.fullmatch(name):
                raise MatchingError("array name not allowed", detail=name)
            data = np.ascontiguousarray(array)
            file = tmp / f"{name}.npy"
            with file.open("wb") as f:
                npy_format.write_array(f, data, version=(1, 0), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            entries[name] = {
                "file": file.name,
                "dtype": data.dtype.str,
                "shape": list(data.shape),
                "bytes": file.stat().st_size,
                "sha256": _sha256(file),
            }
        manifest = json.dumps(
            {"format": FORMAT, "version": VERSION, "meta": meta, "arrays": entries},
            sort_keys=True,
            indent=1,
        ).encode()
        with (tmp / _MANIFEST).open("wb") as f:
            f.write(manifest)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        current = path / f"{_CURRENT}.{snap}.tmp"
        with current.open("w", encoding="ascii") as f:
            f.write(f"{snap}\n{hashlib.sha256(manifest).hexdigest()}\n")
            f.flush()
            os.fsync(f.fileno())
        current.replace(path / _CURRENT)
        _fsync_dir(path)
    except OSError as exc:
        raise MatchingError("cannot save the hash index", detail=str(path)) from exc
    for old in path.iterdir():
        if old.name == snap or not (_SNAP.fullmatch(old.name) or old.name.endswith(".tmp")):
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def _corrupt(message: str, detail: str) -> IndexCorruptError:
    return IndexCorruptError(message, detail=detail)


def read(path: Path, *, mmap: bool = True) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Verify and load the current snapshot at ``path``: ``(meta, arrays)``."""
    try:
        lines = (path / _CURRENT).read_text(encoding="ascii").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt("no readable saved index", str(path)) from exc
    if len(lines) != 3 or not _SNAP.fullmatch(lines[0]) or lines[2] != "":
        raise _corrupt("saved index pointer is malformed", str(path / _CURRENT))
    snap = path / lines[0]
    try:
        manifest_bytes = (snap / _MANIFEST).read_bytes()
    except OSError as exc:
        raise _corrupt("saved index manifest is missing", str(snap)) from exc
    if hashlib.sha256(manifest_bytes).hexdigest() != lines[1]:
        raise _corrupt("saved index manifest was altered", str(snap / _MANIFEST))
    try:
        manifest = json.loads(manifest_bytes)
        if manifest["format"] != FORMAT or manifest["version"] != VERSION:
            raise _corrupt("saved index has an unknown format", f"{manifest['format']!r}")
        meta: dict[str, Any] = manifest["meta"]
        entries: dict[str, dict[str, Any]] = manifest["arrays"]
        out = {name: _load_array(snap, name, entry, mmap=mmap) for name, entry in entries.items()}
    except IndexCorruptError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _corrupt("saved index manifest is malformed", str(snap / _MANIFEST)) from exc
    return meta, out


def _load_array(snap: Path, name: str, entry: dict[str, Any], *, mmap: bool) -> NDArray[Any]:
    if not _NAME.fullmatch(name) or entry["file"] != f"{name}.npy":
        raise _corrupt("saved index names a file it may not", f"{name}: {entry['file']!r}")
    file = snap / entry["file"]
    try:
        size = file.stat().st_size
        if size != entry["bytes"]:
            raise _corrupt("saved index file is truncated or extended", f"{file}: {size} bytes")
        if _sha256(file) != entry["sha256"]:
            raise _corrupt("saved index file was altered", str(file))
        array: NDArray[Any] = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _corrupt("saved index file is unreadable", str(file)) from exc
    if array.dtype.str != entry["dtype"] or list(array.shape) != entry["shape"]:
        raise _corrupt("saved index array has the wrong type or shape", str(file))
    return array
