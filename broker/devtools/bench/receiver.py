"""The receiving agency for the latency run, in its own process (as it would be in life).

``python -m broker.devtools.bench.receiver --home H --prefix P --agency DE-BKA --count N --out F``
consumes ``<P>.inbox.DE-BKA`` with :meth:`AgencyNode.consume` (every check, Avro
decode, replay store) and, in the handler — after decryption and validation —
notes ``CLOCK_MONOTONIC`` (system-wide on Linux, so comparable with the
publisher's clock) against the index in the dossier's ``message_id``. It prints
``WARM`` once the warm-up dossier arrived, and at the end writes a JSON object
``{"received": {index: monotonic seconds}, "peak_rss_mib": ...}`` to ``--out``.
With ``--stream F`` (the rate sweep, :mod:`broker.devtools.bench.sweep`) it runs until
SIGTERM and appends ``<index> <arrival>`` to ``F`` as each dossier arrives.

Example (not run here: it needs Kafka)::

    $ python -m broker.devtools.bench.receiver --home /tmp/h --prefix benche2e --agency DE-BKA \\
          --count 10000 --out /tmp/received.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

from broker import home
from broker.agency import AgencyNode, Delivery
from broker.agency.store import AgencyStore
from broker.audit.writer import load_audit_log
from broker.config import Settings
from broker.devtools.bench.memory import peak_rss_mib
from broker.topics import TopicLayout
from broker.transport import KafkaConnection
from broker.trust import load_identity, load_trust

__all__ = ["WARMUP_ID", "main", "receive"]

WARMUP_ID = "MSG-BENCH-WARMUP"


def clock() -> float:
    """Return ``CLOCK_MONOTONIC`` seconds (the same clock in every process on this machine)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def receive(
    *, settings: Settings, prefix: str, agency: str, count: int, stream: Path | None = None
) -> dict[int, float]:
    """Consume until ``count`` indexed dossiers arrived; return index -> arrival time.

    With ``stream`` (the rate sweep), ``count`` is ignored: it consumes until SIGTERM and
    appends ``<index> <arrival>`` to ``stream`` as each dossier arrives.
    """
    trust = load_trust(settings)
    conn = KafkaConnection(bootstrap=settings.kafka_bootstrap or "", client_id="bench-rx")
    node = AgencyNode(
        identity=load_identity(settings, agency=agency, trust=trust),
        trust=trust,
        conn=conn,
        layout=TopicLayout(prefix=prefix),
        store=AgencyStore.open(home.agency_db(settings, f"{prefix}-{agency}")),
        # As deployed: every delivery leaves an OPEN event in the agency's audit stream.
        audit=load_audit_log(settings, stream=agency, conn=conn),
    )
    received: dict[int, float] = {}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def handler(delivery: Delivery) -> None:
        now = clock()
        if delivery.dossier is None:
            return
        message_id = delivery.dossier.message_id
        if message_id == WARMUP_ID:
            print("WARM", flush=True)
            return
        index = int(message_id.rsplit("-", 1)[-1])
        received[index] = now
        if sink is not None:
            sink.write(f"{index} {now!r}\n")
            sink.flush()
        elif len(received) >= count:
            stop.set()

    sink = stream.open("a") if stream is not None else None
    try:
        async with node:
            await node.consume(handler=handler, stop=stop, send_receipts=False)
    finally:
        if sink is not None:
            sink.close()
    return received


def main(argv: list[str] | None = None) -> None:
    """Run the receiver (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--agency", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stream", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = Settings(home=args.home, kafka_bootstrap=args.bootstrap, topic_prefix=args.prefix)
    received = asyncio.run(
        receive(
            settings=settings,
            prefix=args.prefix,
            agency=args.agency,
            count=args.count,
            stream=args.stream,
        )
    )
    args.out.write_text(json.dumps({"received": received, "peak_rss_mib": peak_rss_mib()}))
    print("DONE", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
