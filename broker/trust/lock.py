"""One lock per home around the public registry, so no process reads it half rewritten.

The registry is many files (``agencies/``: profiles, certificates, revocations) and the
root-signed manifest over them, and its rollback memory (``state/trust/registry-seen.json``)
is shared by every process of the home. A writer (``broker agency add``, a rotation, a
revocation, ``broker federation sync``) changes the files, then signs and remembers a new
manifest version; a reader (the router's and the hub's live trust, any CLI command) reads
the manifest, the files, and checks the version against that memory. Unlocked, a reader
that read manifest version 7 just before a writer remembered version 9 refused the
registry as a rollback, and one that read the files between a writer's profile and its
manifest refused it as not matching: a router or hub starting while a member joined died
with ``RegistryRollbackError``.

:func:`registry_lock` is an ``flock`` on ``state/trust/registry.lock``: exclusive for a
writer, shared for readers (they do not wait for each other). It is re-entrant within a
process, so a writer may read the registry it is changing (``flock`` would otherwise
block on its own lock taken through another descriptor).

Example::

    with registry_lock(settings, write=True):
        ...  # change agencies/, then sign_registry(settings, root)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from broker import home
from broker.config import Settings
from broker.errors import ConfigError

__all__ = ["flocked", "registry_lock"]

#: Lock files this process holds, with how deeply (re-entry passes straight through).
_held: dict[str, int] = {}
_guard = threading.RLock()


@contextlib.contextmanager
def flocked(path: Path, *, exclusive: bool, what: str) -> Iterator[None]:
    """Hold an ``flock`` on ``path`` (created 0600 in a private directory if missing).

    ``what`` names the lock in the :class:`ConfigError` raised if it cannot be taken:
    a home that cannot lock its registry refuses to go on rather than skip the check.
    """
    try:
        home.private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock {what}", detail=str(path)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the flock (it belongs to this open file description)


@contextlib.contextmanager
def registry_lock(settings: Settings, *, write: bool) -> Iterator[None]:
    """Hold the home's registry lock: exclusive if ``write``, else shared."""
    key = str(home.registry_lock(settings))
    with _guard:  # one thread at a time per process: registry reads and writes are short
        if _held.get(key):
            _held[key] += 1
            try:
                yield
            finally:
                _held[key] -= 1
            return
        with flocked(Path(key), exclusive=write, what="the public registry"):
            _held[key] = 1
            try:
                yield
            finally:
                del _held[key]
