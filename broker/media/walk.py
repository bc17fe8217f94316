"""Walk a seized folder without ever following a symbolic link.

:func:`resolve_root` checks the folder; :func:`walk` yields every entry below it
in a fixed order (names sorted, files of a folder before its sub-folders), each
with its :class:`EntryKind`. Only :attr:`EntryKind.FILE` entries are hashed.

Symlink policy: no symbolic link is ever followed, wherever it points. One whose
target lies inside the folder is counted as :attr:`EntryKind.SYMLINK_INSIDE` and
skipped, since its target is hashed under its own path anyway; one that points
outside the folder, or nowhere, is :attr:`EntryKind.SYMLINK_OUTSIDE`. The same
holds for links to directories, so the walk cannot leave the folder or loop.
FIFOs, sockets and device nodes are :attr:`EntryKind.SPECIAL` (opening a FIFO
would block), and a folder that cannot be listed is :attr:`EntryKind.UNLISTABLE`.

Example::

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "a.txt").write_text("x")
    ...     (Path(tmp) / "out").symlink_to("/etc")
    ...     [(e.path, e.kind.value) for e in walk(resolve_root(Path(tmp)))]
    1
    [('a.txt', 'file'), ('out', 'symlink-outside')]
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker.errors import MediaSourceError

__all__ = ["Entry", "EntryKind", "resolve_root", "walk"]


class EntryKind(enum.StrEnum):
    """What the walk found at a path."""

    FILE = "file"
    SYMLINK_INSIDE = "symlink-inside"
    SYMLINK_OUTSIDE = "symlink-outside"
    SPECIAL = "special"
    UNLISTABLE = "unlistable"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One path below the root: ``path`` is relative, with ``/`` separators."""

    path: str
    kind: EntryKind
    size: int = 0
    detail: str | None = None


def resolve_root(directory: Path) -> Path:
    """Return the absolute, symlink-free path of ``directory``; raise if it is no folder.

    The folder named on the command line is resolved (a link to it is the user's
    choice); nothing below it is.
    """
    try:
        root = directory.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise MediaSourceError(f"{directory} does not exist", detail=str(exc)) from exc
    if not root.is_dir():
        raise MediaSourceError(f"{directory} is not a directory")
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        raise MediaSourceError(f"{directory} cannot be listed", detail=str(exc)) from exc
    return root


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _special(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return f"file type {stat.S_IFMT(mode):o}"


def _classify(entry: os.DirEntry[str], rel: str, root: str) -> Entry | None:
    """Return the entry, or None for a sub-folder (the caller descends into it)."""
    if entry.is_symlink():
        target = os.path.realpath(entry.path)
        inside = _inside(target, root) and os.path.lexists(target)
        kind = EntryKind.SYMLINK_INSIDE if inside else EntryKind.SYMLINK_OUTSIDE
        return Entry(path=rel, kind=kind, detail=str(Path(entry.path).readlink()))
    if entry.is_dir(follow_symlinks=False):
        return None
    info = entry.stat(follow_symlinks=False)
    if stat.S_ISREG(info.st_mode):
        return Entry(path=rel, kind=EntryKind.FILE, size=info.st_size)
    return Entry(path=rel, kind=EntryKind.SPECIAL, detail=_special(info.st_mode))


def walk(root: Path) -> Iterator[Entry]:
    """Yield every entry below ``root`` (from :func:`resolve_root`), depth first, sorted."""
    base = str(root)
    pending = [""]  # relative folders still to list; a stack, so memory follows the depth
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(Path(base, rel_dir)) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            yield Entry(path=rel_dir or ".", kind=EntryKind.UNLISTABLE, detail=exc.strerror)
            continue
        subdirs: list[str] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                found = _classify(entry, rel, base)
            except OSError as exc:  # vanished or unreadable metadata: count it, go on
                found = Entry(path=rel, kind=EntryKind.UNLISTABLE, detail=exc.strerror)
            if found is None:
                subdirs.append(rel)
            else:
                yield found
        pending.extend(reversed(subdirs))
