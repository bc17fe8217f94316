"""A hostile but honestly signed sender: envelopes whose payload the recipient must refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.codec import SchemaStore
from broker.envelope import seal
from broker.synthetic import example_dossier
from broker.trust import load_identity, load_trust
from tests.network.conftest import Network


def hostile_dossier(
    network: Network,
    *,
    sender: str,
    to: list[str],
    mutate: Callable[[dict[str, Any]], None],
    sequence: int = 10_000,
    envelope_id: str | None = None,
) -> bytes:
    """Seal, with ``sender``'s real key, a DOSSIER whose Avro record ``mutate`` made invalid.

    The attacker writes its own encoder: the record is Avro-valid (so it decrypts and
    decodes) but breaks the pydantic model the recipient validates with.
    """
    trust = load_trust(network.settings)
    identity = load_identity(network.settings, agency=sender, trust=trust)
    dossier = example_dossier(99)
    record = dossier.to_avro()
    mutate(record)
    payload = SchemaStore.default().encode("eu.fed.Dossier", record)
    return seal(
        payload,
        kind="DOSSIER",
        codes=dossier.codes.to_avro(),
        sender=identity,
        recipients=sorted(to),
        trust=trust,
        sequence=sequence,
        envelope_id=envelope_id,
    )


def oversized_attachment(size: int) -> Callable[[dict[str, Any]], None]:
    """Return a mutation adding one attachment of ``size`` bytes (the model allows 256 KiB)."""

    def mutate(record: dict[str, Any]) -> None:
        record["attachments"] = [
            {"name": "x.bin", "media_type": "application/octet-stream", "content": bytes(size)}
        ]

    return mutate


async def produce(network: Network, topic: str, value: bytes) -> None:
    """Write one raw record (as the attacker's own client would)."""
    producer = network.conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
