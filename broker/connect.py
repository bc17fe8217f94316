"""How a command reaches Kafka: ``KAFKA_BOOTSTRAP``, else the local cluster's record.

Only the command line calls this module; the agency node, router and hub are
*given* their :class:`~broker.transport.KafkaConnection`, so the runtime never
depends on the developer's Kafka launcher (:mod:`broker.local`).

Example::

    >>> from broker.config import Settings
    >>> resolve_bootstrap(Settings(kafka_bootstrap="127.0.0.1:9092"))
    '127.0.0.1:9092'
"""

from __future__ import annotations

from broker.config import Settings
from broker.errors import ConfigError
from broker.local import LocalCluster, read_record
from broker.transport import KafkaConnection

__all__ = ["connection_for", "resolve_bootstrap"]


def resolve_bootstrap(settings: Settings) -> str:
    """Return the Kafka bootstrap address: ``KAFKA_BOOTSTRAP``, else the local record."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    record = read_record(settings.state_dir)
    if record is None:
        raise ConfigError(
            "no Kafka to talk to",
            detail="run `broker local up` (or set KAFKA_BOOTSTRAP=host:port)",
        )
    return str(record["bootstrap"])


def connection_for(settings: Settings, principal: str) -> KafkaConnection:
    """Return how ``principal`` (an agency id, ``router``, ``admin``) reaches Kafka.

    Under a local TLS cluster the principal's client certificate is used (issued by
    the local CA on first use); with ``KAFKA_BOOTSTRAP`` a plain connection.
    """
    if settings.kafka_bootstrap:
        return KafkaConnection(bootstrap=settings.kafka_bootstrap, client_id=principal)
    record = read_record(settings.state_dir)
    if record is None:
        resolve_bootstrap(settings)  # raises the helpful error
    cluster = LocalCluster.attach(state_dir=settings.state_dir)
    return cluster.connection(principal)
