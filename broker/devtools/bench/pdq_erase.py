"""What a recall costs the hub's PDQ index (no Kafka).

Fills a fresh ``hub.db`` with ``hashes`` random PDQ hashes, each held by its own
one-image dossier, saves the index snapshot (the steady state), then times as
process CPU:

* ``open_cpu_ms`` — opening the hub index (snapshot verified and memory-mapped);
* ``erase_cpu_ms`` — :meth:`broker.hub.HubIndex.erase_envelope` of one dossier, of
  which ``pdq_erase_cpu_ms`` is :meth:`broker.hub.pdq.PdqClusters.erase` (the table
  and its cluster) and ``withdraw_cpu_ms`` the index withdrawal at commit;
* ``compacting_save_cpu_ms`` — the close after it (the index compacted, then saved),
  against ``plain_save_cpu_ms``, a save of the same index with no withdrawn row.

Example::

    >>> out = run_pdq_erase_bench(hashes=2_000)
    >>> out["live_after"], out["erased_hash_in_snapshot"]
    (1999, False)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from broker.hub import HubIndex
from broker.hub.pdq import cluster_id_of
from broker.matching import HashIndex
from broker.matching.pdq import parse_hex, to_hex

__all__ = ["run_pdq_erase_bench"]

T = TypeVar("T")


def _cpu_ms(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.process_time()
    out = fn()
    return (time.process_time() - t0) * 1000, out


def _fill(path: Path, hashes: list[str]) -> None:
    index = HubIndex.open(path)
    db = index._db
    (key,) = db.execute("SELECT value FROM meta WHERE key = 'pdq_cluster_key'").fetchone()
    rows = [(i, h, cluster_id_of(bytes.fromhex(key), h)) for i, h in enumerate(hashes)]
    db.execute("BEGIN")
    db.executemany("INSERT INTO pdq (rowid, hash, cluster) VALUES (?, ?, ?)", rows)
    db.executemany(
        "INSERT INTO pdq_held VALUES ('ES-PN', ?, ?)", [(f"e{i}", h) for i, h, _ in rows]
    )
    db.executemany(
        "INSERT INTO holdings VALUES (?, 'ES-PN', ?, 0, ?, '{}')",
        [(f"pdq:{c}", f"e{i}", h) for i, h, c in rows],
    )
    db.execute("COMMIT")
    index.close()
    index = HubIndex.open(path)  # builds the index from the table; the close saves it
    index.close()


def run_pdq_erase_bench(*, hashes: int = 1_000_000) -> dict[str, Any]:
    """Return the figures of one recall at a hub holding ``hashes`` PDQ hashes."""
    rng = np.random.default_rng(1)
    values = sorted(set(to_hex(rng.integers(0, 2**63, size=(hashes, 4), dtype=np.uint64))))
    victim = len(values) // 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hub.db"
        _fill(path, values)
        open_ms, index = _cpu_ms(lambda: HubIndex.open(path))
        pdq_erase, withdraw = index.pdq.erase, index.pdq.index.withdraw
        parts: dict[str, float] = {}

        def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                ms, out = _cpu_ms(lambda: fn(*args, **kwargs))
                parts[name] = parts.get(name, 0.0) + ms
                return out

            return call

        index.pdq.erase = timed("pdq_erase_cpu_ms", pdq_erase)  # type: ignore[method-assign]
        index.pdq.index.withdraw = timed("withdraw_cpu_ms", withdraw)  # type: ignore[method-assign]
        erase_ms, _ = _cpu_ms(lambda: index.erase_envelope("ES-PN", f"e{victim}"))
        compact_ms, _ = _cpu_ms(index.close)
        again = HubIndex.open(path)
        live = int(again.pdq.index.stats()["pdq"]["live"])
        again.pdq._dirty = True
        plain_ms, _ = _cpu_ms(again.close)
        saved = HashIndex.load(path.with_name("hub.db.pdq"))
        words = np.concatenate([s.words(np.arange(len(s))) for s in saved._pdq])
        erased = bool((words == parse_hex([values[victim]])[0]).all(axis=1).any())
    return {
        "hashes": len(values),
        "open_cpu_ms": round(open_ms, 1),
        "erase_cpu_ms": round(erase_ms, 1),
        **{k: round(v, 1) for k, v in parts.items()},
        "compacting_save_cpu_ms": round(compact_ms, 1),
        "plain_save_cpu_ms": round(plain_ms, 1),
        "live_after": live,
        "erased_hash_in_snapshot": erased,
    }
