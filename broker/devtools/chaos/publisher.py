"""The chaos rig's sender: seal pool dossiers and produce them at a steady rate, retrying.

What was sent is counted here, not by the code under test: each envelope id
Kafka acknowledged, with the wall-clock time it was handed to the producer. A
send that fails is retried with the same bytes, so Kafka may hold a record
twice, which the consumers must refuse as a replay.

Example (not run here: it needs a running cluster)::

    publisher = ChaosPublisher(conn=conn, sender=identity, trust=trust, topic=outbox)
    acked = await publisher.send_stream(publisher.sealed(100, to=["DE-BKA"]), rate=50.0)
    await publisher.close()
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from broker._internal.retry import retry_transport
from broker.envelope import seal
from broker.errors import TransportError
from broker.synthetic import example_dossier
from broker.transport import KafkaConnection, translate_kafka_errors
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["ChaosPublisher"]

_POOL = 256  # distinct synthetic dossiers cycled through by the publisher


class ChaosPublisher:
    """Seal dossiers as one agency and produce records at a chosen rate, counting the acks."""

    def __init__(
        self, *, conn: KafkaConnection, sender: AgencyIdentity, trust: TrustStore, topic: str
    ) -> None:
        self._conn = conn
        self._sender = sender
        self._trust = trust
        self._topic = topic
        #: Envelope id -> wall-clock time it was handed to the producer.
        self.sent_at: dict[str, float] = {}
        #: Sends retried so far.
        self.retries = 0
        self._sequence = 0
        payloads = [example_dossier(10_000 + i) for i in range(_POOL)]
        #: The encoded (payload, Avro codes) pairs the sealed dossiers cycle through.
        self.pool = [(d.to_bytes(), d.codes.to_avro()) for d in payloads]
        self._producer: Any = None

    def seal_dossier(self, *, to: list[str], suite: str = "classic") -> tuple[str, bytes]:
        """Seal the next pool dossier to ``to``; return (envelope id, bytes)."""
        self._sequence += 1
        payload, codes = self.pool[self._sequence % _POOL]
        envelope_id = secrets.token_hex(16)
        data = seal(
            payload,
            kind="DOSSIER",
            codes=codes,
            sender=self._sender,
            recipients=to,
            trust=self._trust,
            sequence=self._sequence,
            suite=suite,
            envelope_id=envelope_id,
        )
        return envelope_id, data

    def sealed(self, count: int, *, to: list[str]) -> Iterator[tuple[str, bytes]]:
        """Yield ``count`` freshly sealed dossiers (sealed lazily, one at a time)."""
        for _ in range(count):
            yield self.seal_dossier(to=to)

    async def producer(self) -> Any:
        """Return the started producer (idempotent, acks=all)."""
        if self._producer is None:
            self._producer = self._conn.producer(client_id="chaos-publisher", linger_ms=5)
            with translate_kafka_errors("start chaos publisher"):
                await self._producer.start()
        return self._producer

    async def _send_retrying(self, topic: str, value: bytes, attempts: int = 10) -> None:
        producer = await self.producer()

        async def send() -> None:
            with translate_kafka_errors("chaos publish"):
                await producer.send_and_wait(topic, value=value, key=secrets.token_bytes(16))

        def count(_: TransportError) -> None:
            self.retries += 1

        await retry_transport(
            send, what="chaos publish", attempts=attempts, base=0.5, cap=5.0, on_retry=count
        )

    async def send_stream(
        self,
        envelopes: Iterable[tuple[str | None, bytes]],
        *,
        rate: float,
        topic: str | None = None,
        stop: asyncio.Event | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Produce ``envelopes`` at ``rate`` per second; return the ids Kafka acknowledged.

        Envelopes with an id are recorded as sent (with the time they were handed to
        the producer); ``None`` ids are other records (hostile ones) sent in the same
        stream. A send that fails is retried with the same bytes: Kafka may then hold
        it twice, which the consumers must refuse as a replay.
        """
        producer = await self.producer()
        topic = topic or self._topic
        acked: list[str] = []
        pending: list[tuple[Any, str | None, str, bytes]] = []
        started = time.monotonic()

        async def settle() -> None:
            for future, envelope_id, tp, value in pending:
                try:
                    with translate_kafka_errors("chaos publish"):
                        await future
                except TransportError:
                    await self._send_retrying(tp, value)
                    self.retries += 1
                if envelope_id is not None:
                    acked.append(envelope_id)
            pending.clear()

        for i, (envelope_id, value) in enumerate(envelopes):
            if stop is not None and stop.is_set():
                break
            delay = started + i / rate - time.monotonic()
            # Behind schedule (a loaded machine) the stream catches up, but still yields
            # each time: a scenario waiting on ``on_sent`` to inject its fault must get to
            # run mid-stream, not after a burst of everything left.
            await asyncio.sleep(max(delay, 0.0))
            if envelope_id is not None:
                self.sent_at[envelope_id] = time.time()
            try:
                with translate_kafka_errors("chaos publish"):
                    future = await producer.send(topic, value=value, key=secrets.token_bytes(16))
            except TransportError:
                await self._send_retrying(topic, value)
                if envelope_id is not None:
                    acked.append(envelope_id)
                continue
            pending.append((future, envelope_id, topic, value))
            if len(pending) >= 500:
                await settle()
            if on_sent is not None:
                on_sent(i + 1)
        await settle()
        return acked

    async def inject(self, topic: str, value: bytes) -> asyncio.Future[object]:
        """Hand one raw record for ``topic`` to the producer; return its delivery future."""
        producer = await self.producer()
        with translate_kafka_errors("inject"):
            future: asyncio.Future[object] = await producer.send(
                topic, value=value, key=secrets.token_bytes(16)
            )
        return future

    async def settle(self, pending: list[asyncio.Future[object]]) -> None:
        """Wait until Kafka acknowledged every future in ``pending`` (then clear it)."""
        with translate_kafka_errors("inject"):
            await asyncio.gather(*pending)
        pending.clear()

    async def close(self) -> None:
        """Stop the producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
