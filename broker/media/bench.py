"""How fast ``broker media hash`` goes: files/s over a generated picture set.

:func:`measure` writes ``count`` synthetic JPEG pictures (:mod:`broker.media.synthetic`)
into a temporary folder, then runs the full pipeline over it exactly as the
command does (walk, batches over ``workers`` processes, SHA-256 + MD5 + decode +
PDQ, validated references written as JSON Lines) and reports wall time and the
CPU time of this process and its worker processes together.
:func:`media_hash_files_per_s` is the figure ``broker bench --large`` reports.
From a shell: ``python -m broker.media.bench --size 512 --count 500`` prints the
measurement as JSON.

Example::

    >>> rate = measure(count=20, size=64, workers=1)
    >>> rate.files, rate.images, rate.files_per_s > 0
    (20, 20, True)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker.media.hashing import HashOptions
from broker.media.references import ReferenceWriter, media_reference
from broker.media.scan import Scan
from broker.media.synthetic import write_images

__all__ = ["HashRate", "main", "measure", "media_hash_files_per_s"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HashRate:
    """One measurement: ``size`` x ``size`` JPEG pictures hashed by ``workers`` processes."""

    files: int
    images: int
    size: int
    workers: int
    generate_s: float  # wall time to write the pictures (same worker processes)
    wall_s: float  # wall time of the hashing run
    cpu_s: float  # CPU time of the hashing run, this process and its workers

    @property
    def files_per_s(self) -> float:
        """Files hashed per second of wall time."""
        return self.files / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_ms_per_file(self) -> float:
        """CPU milliseconds spent per file, all processes together."""
        return 1000 * self.cpu_s / self.files if self.files else 0.0

    def to_json(self) -> dict[str, Any]:
        """Return the measurement with its derived rates."""
        return {
            **asdict(self),
            "files_per_s": self.files_per_s,
            "cpu_ms_per_file": self.cpu_ms_per_file,
        }


def _cpu_s() -> float:
    # Children count once they have been waited for: the scan's pool is shut down
    # (workers joined) before the second reading.
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(
    *,
    count: int = 2_000,
    size: int = 128,
    workers: int | None = None,
    options: HashOptions | None = None,
    seed: int = 0,
) -> HashRate:
    """Generate ``count`` pictures and time hashing them with ``workers`` (default all cores)."""
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        folder = Path(tmp) / "seized"
        start = time.perf_counter()
        write_images(folder, count=count, size=size, seed=seed, workers=workers)
        generate_s = time.perf_counter() - start
        scan = Scan(directory=folder, workers=workers, options=options)
        cpu0, wall0 = _cpu_s(), time.perf_counter()
        with ReferenceWriter(path=Path(tmp) / "refs.jsonl") as out:
            for file in scan.run():
                out.write(file, media_reference(file, device_ref="BENCH"))
        wall_s, cpu_s = time.perf_counter() - wall0, _cpu_s() - cpu0
    return HashRate(
        files=scan.summary.files,
        images=scan.summary.images,
        size=size,
        workers=workers,
        generate_s=generate_s,
        wall_s=wall_s,
        cpu_s=cpu_s,
    )


def media_hash_files_per_s(*, count: int = 2_000, size: int = 128) -> float:
    """Return files/s of ``broker media hash`` on generated pictures with every core."""
    return measure(count=count, size=size).files_per_s


def main(argv: list[str] | None = None) -> None:
    """Print one measurement as JSON (``python -m broker.media.bench --help``)."""
    parser = argparse.ArgumentParser(prog="python -m broker.media.bench", description=__doc__)
    parser.add_argument("--count", type=int, default=2_000, help="pictures to generate")
    parser.add_argument("--size", type=int, default=128, help="side of each picture, px")
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--pdq-downscale", action="store_true", help="see HashOptions")
    args = parser.parse_args(argv)
    rate = measure(
        count=args.count,
        size=args.size,
        workers=args.workers,
        options=HashOptions(pdq_downscale=args.pdq_downscale),
    )
    print(json.dumps(rate.to_json()))


if __name__ == "__main__":
    main()
