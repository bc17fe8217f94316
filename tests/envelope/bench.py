"""Measure envelope sealing and opening throughput (a script, not a test).

    .venv/bin/python -m tests.envelope.bench [--seconds 1.0]

One thread, real keys. The payload is a 4 KiB ``eu.fed.Attachment`` (single-object
encoded). For each suite, recipient count (1, 3, 10) and signing mode (direct, or
batches of 64 under one signature) it reports envelopes per second for:

* ``seal``   — the sender (batch: ``seal_batch`` of 64, per envelope);
* ``verify`` — the router: signature only, one long-lived ``Verifier`` (batch roots cached);
* ``open``   — one recipient: verify + unwrap + commitment + decrypt, long-lived ``Verifier``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Callable

from broker.codec import SchemaStore
from broker.envelope import SealRequest, Verifier, seal, seal_batch
from broker.trust.testing import UnsafeTestFederation

AGENCIES = ["ES-PN", *(f"R{i:02d}" for i in range(10))]
BATCH = 64
CODES = {
    "handling": ["H0"],
    "h3_restrictions": None,
    "tlp": "AMBER",
    "pap": "GREEN",
    "classification": "RESTRICTED",
    "evaluation": {"source": "B", "information": "I2"},
    "legal_basis": "benchmark",
    "purpose": "benchmark",
    "retention_review": dt.date(2030, 1, 1),
}


def _rate(fn: Callable[[], int], seconds: float) -> float:
    """Return items per second, running ``fn`` (which returns how many it did) repeatedly."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += fn()
    return done / elapsed


def _row(
    fed: UnsafeTestFederation,
    *,
    payload: bytes,
    suite: str,
    recipients: list[str],
    batch: bool,
    now: dt.datetime,
    seconds: float,
) -> str:
    sender, reader = fed.identity("ES-PN"), fed.identity(recipients[0])
    reqs = [
        SealRequest(payload=payload, kind="DOSSIER", codes=CODES, recipients=recipients, sequence=i)
        for i in range(1, (BATCH if batch else 1) + 1)
    ]

    def seal_some() -> list[bytes]:
        if batch:
            return seal_batch(reqs, sender=sender, trust=fed.trust, suite=suite, now=now)
        return [
            seal(
                payload,
                kind="DOSSIER",
                codes=CODES,
                sender=sender,
                recipients=recipients,
                trust=fed.trust,
                sequence=1,
                suite=suite,
                now=now,
            )
        ]

    sealed = seal_some()
    envelopes = sealed * max(1, 256 // len(sealed))
    router, consumer = Verifier(trust=fed.trust), Verifier(trust=fed.trust)

    def verify_all() -> int:
        for data in envelopes:
            router.verify(data, now=now)
        return len(envelopes)

    def open_all() -> int:
        for data in envelopes:
            consumer.open(data, identity=reader, now=now)
        return len(envelopes)

    mode = "batch" if batch else "direct"
    return (
        f"{suite:10} {len(recipients):>5} {mode:6} {len(sealed[0]):>7} "
        f"{_rate(lambda: len(seal_some()), seconds):>8.0f} "
        f"{_rate(verify_all, seconds):>9.0f} {_rate(open_all, seconds):>8.0f}"
    )


def main() -> None:
    """Print one table row per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    seconds = parser.parse_args().seconds
    now = dt.datetime.now(dt.UTC)
    fed = UnsafeTestFederation.create(agencies=AGENCIES, now=now)
    payload = SchemaStore.default().encode(
        "eu.fed.Attachment",
        {"name": "x.bin", "media_type": "application/octet-stream", "content": os.urandom(4096)},
    )
    print(f"payload {len(payload)} B, batch size {BATCH}, {seconds:.1f} s per cell, one thread")
    print(
        f"{'suite':10} {'rcpts':>5} {'mode':6} {'bytes':>7} {'seal/s':>8} {'verify/s':>9} "
        f"{'open/s':>8}"
    )
    for suite in ("classic", "pq-hybrid"):
        for n in (1, 3, 10):
            for batch in (False, True):
                row = _row(
                    fed,
                    payload=payload,
                    suite=suite,
                    recipients=AGENCIES[1 : 1 + n],
                    batch=batch,
                    now=now,
                    seconds=seconds,
                )
                print(row, flush=True)


if __name__ == "__main__":
    main()
