"""Measure replay throughput of the audit verifier's per-event work.

Run: ``python -m broker.devtools.bench.merkle_rate [events] [checkpoint_every]``.

Prints events per second for what the audit verifier does per event — hash the
stored bytes into a leaf, append it to a :class:`CompactRange` — with the root
recomputed every ``checkpoint_every`` events, and for a root after every event.
"""

from __future__ import annotations

import sys
import time

from broker.merkle.tree import CompactRange
from broker.merkle.verify import leaf_hash


def _rate(events: int, seconds: float) -> str:
    return f"{events / seconds:>12,.0f} events/s"


def main(argv: list[str]) -> None:
    """Run the three measurements and print one line each."""
    events = int(argv[0]) if argv else 1_000_000
    every = int(argv[1]) if len(argv) > 1 else 1_000
    records = [i.to_bytes(8, "big") * 16 for i in range(events)]  # 128-byte records
    hashes = [leaf_hash(r) for r in records]

    tree, start = CompactRange(), time.perf_counter()
    for i, h in enumerate(hashes, 1):
        tree.append(h)
        if i % every == 0:
            tree.root()
    print(f"append + root every {every:,}: {_rate(events, time.perf_counter() - start)}")

    tree, start = CompactRange(), time.perf_counter()
    for i, r in enumerate(records, 1):
        tree.append(leaf_hash(r))
        if i % every == 0:
            tree.root()
    elapsed = time.perf_counter() - start
    print(f"leaf hash + append + root every {every:,}: {_rate(events, elapsed)}")

    n = min(events, 200_000)
    tree, start = CompactRange(), time.perf_counter()
    for h in hashes[:n]:
        tree.append(h)
        tree.root()
    print(f"append + root after every event: {_rate(n, time.perf_counter() - start)}")


if __name__ == "__main__":
    main(sys.argv[1:])
