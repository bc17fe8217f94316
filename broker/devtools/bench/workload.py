"""What the benchmark runs on: a throw-away federation, dossiers of exact sizes, topics.

The federation is a real one on disk (root, certificates, keys under a temporary
home that is deleted afterwards), so the router subprocess loads it exactly as
``broker router run`` does in production. Dossiers are synthetic
(:func:`broker.synthetic.example_dossier`) padded with a random attachment to an
exact encoded size.

Example::

    >>> len(dossier_payload(4096))
    4096
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import NewTopic

from broker.agency import AgencyNode
from broker.agency.store import AgencyStore
from broker.audit.journal import AuditJournal
from broker.audit.keys import load_audit_signer
from broker.audit.writer import AuditLog
from broker.config import Settings
from broker.errors import ConfigError, Error, TransportError
from broker.federation import init_federation
from broker.models import Dossier
from broker.models.dossier import Attachment
from broker.synthetic import example_dossier
from broker.topics import TopicLayout
from broker.transport import (
    TOPIC_ALREADY_EXISTS,
    KafkaConnection,
    error_name,
    translate_kafka_errors,
)
from broker.trust import AgencyIdentity, TrustStore, load_identity, load_trust

__all__ = [
    "RECIPIENTS",
    "SENDER",
    "BenchError",
    "BenchFederation",
    "create_topics",
    "delete_topics",
    "dossier",
    "dossier_payload",
]

SENDER = "ES-PN"
#: Recipients in the order they are added (1, 3 or 10 of them); the first one consumes.
RECIPIENTS = [
    "DE-BKA",
    "PT-PJ",
    "EUROPOL",
    "IT-PS",
    "AR-PFA",
    "CL-PDI",
    "FR-PN",
    "NL-POL",
    "BE-FP",
    "PL-CBZC",
]
PARTITIONS = 3


@functools.cache
def _base() -> Dossier:
    # The smallest of the first synthetic dossiers, so 1 KiB still has room for padding.
    return min((example_dossier(seed) for seed in range(40)), key=lambda d: len(d.to_bytes()))


def dossier(size: int, *, message_id: str | None = None, seed: bytes | None = None) -> Dossier:
    """Return a synthetic dossier whose Avro single-object encoding is exactly ``size`` bytes."""
    base = _base()
    if message_id is not None:
        base = base.model_copy(update={"message_id": message_id})
    noise = seed if seed is not None else os.urandom(size)
    pad = max(0, size - len(base.to_bytes()) - 40)
    for _ in range(8):
        candidate = base.model_copy(
            update={
                "attachments": [
                    Attachment(
                        name="padding.bin",
                        media_type="application/octet-stream",
                        content=(noise * (pad // max(1, len(noise)) + 1))[:pad],
                    )
                ]
            }
        )
        diff = size - len(candidate.to_bytes())
        if diff == 0:
            return candidate
        pad += diff
        if pad < 0:
            break
    raise ConfigError(f"cannot build a dossier of exactly {size} bytes")


def dossier_payload(size: int) -> bytes:
    """Return the encoded bytes of a synthetic dossier of exactly ``size`` bytes."""
    return dossier(size).to_bytes()


@dataclass(frozen=True, kw_only=True)
class BenchFederation:
    """A real federation under ``home`` (sender + ten recipients) and how to reach Kafka."""

    settings: Settings
    trust: TrustStore
    identities: dict[str, AgencyIdentity]

    @classmethod
    def create(cls, *, home: Path, bootstrap: str) -> BenchFederation:
        """Create root, keys and certificates for :data:`SENDER` and :data:`RECIPIENTS`."""
        settings = Settings(home=home, kafka_bootstrap=bootstrap)
        init_federation(settings, agencies=[SENDER, *RECIPIENTS])
        trust = load_trust(settings)
        identities = {
            a: load_identity(settings, agency=a, trust=trust) for a in [SENDER, *RECIPIENTS]
        }
        return cls(settings=settings, trust=trust, identities=identities)

    @property
    def conn(self) -> KafkaConnection:
        """A plaintext connection to the benchmark's Kafka."""
        return KafkaConnection(bootstrap=self.settings.kafka_bootstrap or "", client_id="bench")

    def node(self, agency: str, *, prefix: str, state: Path, crypto_workers: int = 0) -> AgencyNode:
        """Return an agency node on topics ``<prefix>.*`` with a fresh store under ``state``.

        Like a deployed node it keeps an audit trail: its own journal under ``state`` and
        the agency's certified audit key, published to ``<prefix>.audit``.
        """
        here = state / prefix / agency
        layout = TopicLayout(prefix=prefix)
        return AgencyNode(
            identity=self.identities[agency],
            trust=self.trust,
            conn=self.conn,
            layout=layout,
            store=AgencyStore.open(here / "state.db"),
            audit=AuditLog(
                journal=AuditJournal.open(here / "audit.db", stream=agency),
                signer=load_audit_signer(self.settings, stream=agency),
                conn=self.conn,
                topic=layout.audit,
                checkpoint_copy=here / "audit-checkpoint.note",
            ),
            crypto_workers=crypto_workers,
        )


async def create_topics(conn: KafkaConnection, names: list[str]) -> None:
    """Create ``names`` (3 partitions each, as the federation's topics) if missing."""
    async with conn.admin() as admin:
        with translate_kafka_errors("create bench topics"):
            response = await admin.create_topics(
                [NewTopic(name=n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
            )
    for entry in response.topic_errors:
        if entry[1] and entry[1] != TOPIC_ALREADY_EXISTS:
            raise TransportError(f"cannot create topic {entry[0]}", detail=error_name(entry[1]))


async def delete_topics(conn: KafkaConnection, names: list[str]) -> None:
    """Delete ``names`` (best effort: the benchmark's leftovers only)."""
    async with conn.admin() as admin:
        with translate_kafka_errors("delete bench topics"):
            await admin.delete_topics(names)


class BenchError(Error):
    """The benchmark could not complete a measurement (a timeout, a rejected record)."""

    reason = "bench-failed"
