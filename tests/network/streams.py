"""Helpers of the streamed-dossier tests: hand-built streams (broker.devtools.chaos.parts)
and a keyed injector, so a test can drop, repeat, swap or alter parts before producing."""

from __future__ import annotations

from broker.codec import SchemaStore
from broker.devtools.chaos.parts import Stream, altered, build_stream, refs
from broker.envelope.stream import PART_SCHEMA
from broker.transport import KafkaConnection

__all__ = ["Stream", "altered", "build_stream", "ciphertext", "inject", "refs"]


def ciphertext(record: bytes) -> bytes:
    """The ciphertext field of a part record."""
    value: bytes = SchemaStore.default().decode(PART_SCHEMA, record)["ciphertext"]
    return value


async def inject(conn: KafkaConnection, topic: str, records: list[bytes], key: str) -> None:
    """Produce ``records`` to ``topic`` in order under one key (one partition)."""
    producer = conn.producer(client_id="tests-inject")
    await producer.start()
    try:
        for value in records:
            await (await producer.send(topic, value=value, key=key.encode()))
    finally:
        await producer.stop()
