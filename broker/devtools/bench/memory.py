"""Peak resident set size of this process, a child, or another process (Linux).

Example::

    >>> peak_rss_mib() > 0
    True
"""

from __future__ import annotations

import resource
from pathlib import Path

__all__ = ["peak_rss_mib", "proc_peak_rss_mib"]


def peak_rss_mib() -> float:
    """Return this process's peak RSS in MiB (``VmHWM``; ``ru_maxrss`` as a fallback)."""
    found = proc_peak_rss_mib(None)
    if found is not None:
        return found
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def proc_peak_rss_mib(pid: int | None) -> float | None:
    """Return ``VmHWM`` of ``pid`` (None: this process) in MiB, or None if unreadable."""
    path = Path("/proc/self/status" if pid is None else f"/proc/{pid}/status")
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None
