"""Several inbox processes of one agency share its SQLite store: a replay raced across
processes is accepted exactly once, and sequence numbers are never handed out twice."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from broker.agency.store import AgencyStore
from broker.errors import ReplayError

IDS = [f"{i:032x}" for i in range(150)]


def _race_accept(path: str, out: str) -> None:
    store = AgencyStore.open(Path(path))
    won, refused = [], 0
    try:
        for seq, envelope_id in enumerate(IDS, start=1):
            try:
                store.accept(
                    envelope_id=envelope_id,
                    sender="ES-PN",
                    sequence=seq,
                    expires_at=4e9,
                    kind="DOSSIER",
                    provenance={},
                    payload=b"x",
                )
                won.append(envelope_id)
            except ReplayError:
                refused += 1
    finally:
        store.close()
    Path(out).write_text(f"{refused}\n" + "\n".join(won))


def _reserve(path: str, out: str) -> None:
    store = AgencyStore.open(Path(path))
    try:
        numbers = [n for _ in range(40) for n in store.next_sequences(3)]
    finally:
        store.close()
    Path(out).write_text("\n".join(map(str, numbers)))


def _run(target: object, path: Path, tmp: Path, count: int) -> list[str]:
    AgencyStore.open(path).close()
    ctx = multiprocessing.get_context("spawn")
    outs = [tmp / f"out{i}" for i in range(count)]
    procs = [ctx.Process(target=target, args=(str(path), str(o))) for o in outs]  # type: ignore[arg-type]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * count
    return [o.read_text() for o in outs]


def test_replay_raced_by_three_inbox_processes_is_accepted_once(tmp_path: Path) -> None:
    results = _run(_race_accept, tmp_path / "state.db", tmp_path, 3)
    won = [line for r in results for line in r.splitlines()[1:] if line]
    refused = sum(int(r.splitlines()[0]) for r in results)
    assert sorted(won) == IDS  # each id accepted by exactly one process
    assert refused == 2 * len(IDS)  # every other attempt refused as a replay
    store = AgencyStore.open_read_only(tmp_path / "state.db")
    try:
        assert len(store.inbox()) == len(IDS)  # stored once each
    finally:
        store.close()


def test_sequence_numbers_are_unique_across_processes(tmp_path: Path) -> None:
    results = _run(_reserve, tmp_path / "state.db", tmp_path, 3)
    numbers = [int(n) for r in results for n in r.split()]
    assert sorted(numbers) == list(range(1, 3 * 40 * 3 + 1))
