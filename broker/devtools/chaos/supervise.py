"""The chaos rig's CLI processes: start, kill and restart them, count crashes, sample memory.

A process that dies without the harness killing it is a finding: the supervisor
counts it as a crash, keeps the end of its stderr and restarts it so the
scenario goes on. Memory is sampled from ``/proc`` (VmRSS), keeping each
process's peak.

Example::

    >>> import os
    >>> rss_mib(os.getpid()) > 0
    True
    >>> sampler = RssSampler(sources={"me": lambda: [os.getpid()]})
    >>> sampler.sample(); sampler.peaks["me"] > 0
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RssSampler", "Supervised", "rss_mib", "supervise"]

log = logging.getLogger(__name__)


def rss_mib(pid: int) -> float | None:
    """Return the resident set size of ``pid`` in MiB (None if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Supervised:
    """One CLI process the harness starts, kills, restarts and watches for crashes."""

    def __init__(self, *, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.crashes = 0
        self.crash_tails: list[str] = []

    @property
    def pid(self) -> int | None:
        """The running process id (None when not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        return self.proc.pid

    def start(self) -> None:
        """Start (or restart) the process; stdout and stderr are appended to its logs."""
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
                [sys.executable, "-m", "broker", *self.args], env=self.env, stdout=out, stderr=err
            )

    def kill(self) -> float:
        """SIGKILL the process, reap it, and return the wall-clock time of the kill."""
        at = time.time()
        # Forget the process before signalling it: kill() runs in a worker thread, and the
        # supervisor must not see the SIGKILLed process and count it as a crash.
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            self.kills += 1
        return at

    async def await_own_kill(self, arm: Callable[[], None], *, within: float) -> float | None:
        """Arm a fault that makes the process SIGKILL itself, wait for that, restart it.

        Returns the wall-clock time of the death, or None if it did not die of the fault
        within ``within`` seconds (then the harness SIGKILLs it itself; an exit other than
        SIGKILL counts as a crash).
        """
        # Detach first: the supervisor must not count the death as a crash.
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        arm()
        try:
            code = await asyncio.to_thread(proc.wait, within)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 30)
            code = None
        at = time.time() if code == -signal.SIGKILL else None
        if code is not None and code != -signal.SIGKILL:
            self.crashes += 1
            tail = self.stderr_path.read_text(errors="replace")[-1500:]
            self.crash_tails.append(f"exit {code}: {tail}")
        self.kills += 1
        self.start()
        return at

    def check(self) -> bool:
        """If the process died on its own, count a crash, restart it and return True."""
        if self.proc is None or self.proc.poll() is None:
            return False
        self.crashes += 1
        tail = self.stderr_path.read_text(errors="replace")[-1500:]
        self.crash_tails.append(f"exit {self.proc.returncode}: {tail}")
        log.error("%s died on its own (exit %s); restarting", self.name, self.proc.returncode)
        self.start()
        return True

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the process and wait (SIGKILL after ``grace`` seconds)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 10)


async def supervise(processes: Mapping[str, Supervised]) -> None:
    """Check every process in ``processes`` twice a second, forever (cancel to stop)."""
    while True:
        for proc in list(processes.values()):
            proc.check()
        await asyncio.sleep(0.5)


@dataclass
class RssSampler:
    """Sample VmRSS of named processes every ``interval`` seconds; keep the peak per name."""

    sources: dict[str, Callable[[], list[int]]]
    interval: float = 1.0
    peaks: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def sample(self) -> None:
        """Take one sample of every source."""
        self.samples += 1
        for name, pids in self.sources.items():
            total = sum(r for r in (rss_mib(p) for p in pids()) if r is not None)
            if total:
                self.peaks[name] = max(self.peaks.get(name, 0.0), total)

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set."""
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
