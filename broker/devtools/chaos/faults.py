"""Faults a chaos scenario injects inside a CLI process, armed through its environment.

``BROKER_CHAOS_KILL_AFTER_ACCEPT=<path>`` (read by ``broker inbox``): once a fetched
batch has been accepted in the store (seen-marks, payloads and ``pending_handler``
marks committed) and before its first handler runs, the process SIGKILLs itself if
the file at ``<path>`` exists (removing it first, so one arming is one death). The
``kill-after-accept`` scenario arms it and counts what the restarted inbox hands over.

Example::

    >>> kill_after_accept({}) is None
    True
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["KILL_AFTER_ACCEPT", "kill_after_accept"]

KILL_AFTER_ACCEPT = "BROKER_CHAOS_KILL_AFTER_ACCEPT"


def kill_after_accept(environ: Mapping[str, str]) -> Callable[[Sequence[str]], None] | None:
    """Return the inbox's ``after_accept`` hook that dies when armed (None if not asked for)."""
    where = environ.get(KILL_AFTER_ACCEPT)
    if not where:
        return None
    marker = Path(where)

    def hook(envelope_ids: Sequence[str]) -> None:
        try:
            marker.unlink()
        except FileNotFoundError:
            return  # not armed
        sys.stdout.flush()
        sys.stderr.write(f"chaos: SIGKILL after accepting {len(envelope_ids)} deliveries\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    return hook
