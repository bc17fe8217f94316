"""``broker bench --large``: one large streamed dossier end to end, as three processes.

A fresh federation (ES-PN sending to DE-BKA) on the given Kafka; ``refs`` synthetic
media references written as ``broker media hash`` JSON Lines; then the real commands,
each its own process: ``broker router run``, ``broker inbox --as DE-BKA --follow``, and
``broker publish --as ES-PN --to DE-BKA dossier.json --media refs.jsonl``.
``large_e2e_s`` runs from the publisher's start to the line the receiver's handler
prints for the dossier; ``large_peak_rss_mib`` is the largest peak RSS (``VmHWM``,
or the publisher's ``ru_maxrss`` at exit) of the three, each also reported on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from broker.config import Settings
from broker.devtools.bench.kafka import bench_kafka
from broker.devtools.bench.memory import proc_peak_rss_mib
from broker.devtools.bench.workload import BenchError
from broker.federation import init_federation
from broker.media.bench import media_hash_files_per_s
from broker.synthetic import example_dossier

__all__ = ["LARGE_MEDIA_REFS", "LargeResult", "run_large", "run_large_bench", "write_refs"]

#: The references of the bench's dossier: one seizure of the size the issue names.
LARGE_MEDIA_REFS = 360_000


@dataclass
class LargeResult:
    """What the large run measured."""

    refs: int
    e2e_s: float
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    #: CPU seconds (user + system) each process used: the machine's load cannot inflate it.
    cpu_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The keys ``broker bench --large --json`` prints."""
        return {
            "large_media_refs": self.refs,
            "large_e2e_s": round(self.e2e_s, 2),
            "large_peak_rss_mib": round(max(self.peak_rss_mib.values()), 1),
            "large_peak_rss_mib_by_process": {k: round(v, 1) for k, v in self.peak_rss_mib.items()},
            "large_cpu_s_by_process": {k: round(v, 1) for k, v in self.cpu_s.items()},
        }


def write_refs(path: Path, count: int) -> None:
    """Write ``count`` synthetic references as ``broker media hash`` JSON Lines."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            rec = {
                "path": f"img/{i:07d}.jpg",
                "size": 1000 + i,
                "sha256": f"{i:064x}",
                "md5": f"{i:032x}",
                "perceptual_hash": f"{(i * 2654435761) % (1 << 256):064x}",
                "perceptual_algorithm": "PDQ",
                "perceptual_quality": 100,
                "perceptual_low_quality": False,
                "category": "UNCLASSIFIED",
                "device_ref": "DEV-1",
            }
            out.write(json.dumps(rec) + "\n")


class _Proc:
    """A child process whose peak RSS is sampled until it ends."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "broker", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.peak = 0.0
        self.cpu_s = 0.0
        self.lines: list[tuple[float, str]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()
        threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True).start()

    def _sample(self) -> None:
        # Never poll() here: that reaps the child, and wait() then loses its rusage (and
        # os.wait4 raises ChildProcessError). A zombie has no VmHWM: sampling stops counting.
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_peak_rss_mib(self.popen.pid) or 0.0)
            time.sleep(0.1)

    def _read(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            self.lines.append((time.monotonic(), line.rstrip()))

    def wait(self, timeout: float) -> int:
        """Wait for the exit (reaping it with its rusage); return the exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(self.popen.pid, os.WNOHANG)
            if pid:
                self.peak = max(self.peak, usage.ru_maxrss / 1024)  # KiB on Linux
                self.cpu_s = usage.ru_utime + usage.ru_stime
                self.popen.returncode = os.waitstatus_to_exitcode(status)
                self._stop.set()
                return self.popen.returncode
            self.peak = max(self.peak, proc_peak_rss_mib(self.popen.pid) or 0.0)
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not finish in {timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM (a clean stop for the router and inbox), then reap."""
        if self.popen.returncode is None:
            self.peak = max(self.peak, proc_peak_rss_mib(self.popen.pid) or 0.0)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.wait(60)
            except BenchError:
                self.popen.kill()
                self.popen.wait()


def run_large(
    *, root: Path, bootstrap: str, refs: int = LARGE_MEDIA_REFS, timeout: float = 600.0
) -> LargeResult:
    """Run the large dossier through publisher, router and receiver (see the module doc)."""
    home = root / "large-home"
    settings = Settings(home=home, kafka_bootstrap=bootstrap, topic_prefix="large")
    init_federation(settings, agencies=["ES-PN", "DE-BKA"])
    refs_file = root / "refs.jsonl"
    write_refs(refs_file, refs)
    dossier_file = root / "dossier.json"
    dossier_file.write_text(example_dossier(7).to_json())
    env = {
        **os.environ,
        "BROKER_HOME": str(home),
        "KAFKA_BOOTSTRAP": bootstrap,
        "BROKER_TOPIC_PREFIX": "large",
    }
    subprocess.run(
        [sys.executable, "-m", "broker", "topics", "create"],
        env=env,
        check=True,
        text=True,
        capture_output=True,
    )
    router = _Proc("router", ["router", "run"], env)
    inbox = _Proc("receiver", ["inbox", "--as", "DE-BKA", "--follow"], env)
    try:
        time.sleep(3.0)  # both subscribed before the first part is produced
        start = time.monotonic()
        publisher = _Proc(
            "publisher",
            [
                "publish",
                "--as",
                "ES-PN",
                "--to",
                "DE-BKA",
                str(dossier_file),
                "--media",
                str(refs_file),
            ],
            env,
        )
        if publisher.wait(timeout) != 0:
            err = publisher.popen.stderr.read() if publisher.popen.stderr else ""
            raise BenchError("publisher failed", detail=err[-2000:])
        deadline = start + timeout
        arrived = None
        while arrived is None and time.monotonic() < deadline:
            arrived = next((t for t, line in inbox.lines if "streamed references" in line), None)
            time.sleep(0.05)
        if arrived is None:
            raise BenchError("the dossier never reached the receiver's handler")
    finally:
        inbox.stop()
        router.stop()
    return LargeResult(
        refs=refs,
        e2e_s=arrived - start,
        peak_rss_mib={p.name: p.peak for p in (publisher, router, inbox)},
        cpu_s={p.name: p.cpu_s for p in (publisher, router, inbox)},
    )


def run_large_bench(*, bootstrap: str | None, refs: int = LARGE_MEDIA_REFS) -> dict[str, Any]:
    """Start a 1-node local Kafka unless ``bootstrap``; run :func:`run_large`; add media/s."""

    async def main(root: Path) -> dict[str, Any]:
        async with bench_kafka(root, bootstrap=bootstrap) as (kafka, _):
            result = await asyncio.to_thread(run_large, root=root, bootstrap=kafka, refs=refs)
            return result.to_json()

    with tempfile.TemporaryDirectory(prefix="broker-bench-large-") as tmp:
        out = asyncio.run(main(Path(tmp)))
    out["media_hash_files_per_s"] = round(media_hash_files_per_s(), 1)
    return out
