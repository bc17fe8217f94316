"""The Kafka transport boundary: connection settings, client factories, topic admin.

Every aiokafka error is translated here, and only here, into
:class:`broker.errors.TransportError` (``retriable`` copied from aiokafka's own
attribute) or one of its access-denied subclasses, so the rest of the package
never imports ``aiokafka.errors``.

Example::

    >>> from broker.transport import KafkaConnection
    >>> conn = KafkaConnection(bootstrap="127.0.0.1:9092")
    >>> conn.client_kwargs()["bootstrap_servers"]
    '127.0.0.1:9092'
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiokafka.errors as kafka_errors
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from broker.errors import AccessDeniedError, TransportError
from broker.retention import Retention
from broker.topics import TopicLayout

__all__ = [
    "TOPIC_ALREADY_EXISTS",
    "KafkaConnection",
    "TlsIdentity",
    "ensure_topics",
    "error_name",
    "producer_fenced",
    "skip_if_partition_moved",
    "topic_configs",
    "translate_kafka_errors",
]

log = logging.getLogger(__name__)

#: Kafka's error code for "topic already exists" (raw admin responses).
TOPIC_ALREADY_EXISTS: int = kafka_errors.TopicAlreadyExistsError.errno


def error_name(code: int) -> str:
    """Return Kafka's name for a protocol error code found in a raw admin response."""
    name: str = kafka_errors.for_code(code).__name__
    return name


def producer_fenced(exc: BaseException) -> bool:
    """Return whether ``exc`` (a translated TransportError) says a newer producer fenced ours."""
    cause = exc.__cause__ if isinstance(exc, TransportError) else exc
    return isinstance(cause, kafka_errors.ProducerFenced | kafka_errors.InvalidProducerEpoch)


_MOVED = (
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.UnknownMemberIdError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.IllegalStateError,
)


@contextlib.contextmanager
def skip_if_partition_moved(what: str) -> Iterator[None]:
    """Swallow (and log) a failed offset commit whose partition the group reassigned.

    Another member of the consumer group owns it now (or will, after the rebalance) and
    reads it from the last committed offset. Any other error propagates.
    """
    try:
        yield
    except TransportError as exc:
        if not isinstance(exc.__cause__, _MOVED):
            raise
        log.info("%s: not committed, the partition moved to another consumer", what)


_DENIED = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
)


@contextlib.contextmanager
def translate_kafka_errors(action: str) -> Iterator[None]:
    """Translate aiokafka and socket errors raised inside the block into TransportError."""
    try:
        yield
    except _DENIED as exc:
        raise AccessDeniedError(f"{action}: access denied", detail=str(exc)) from exc
    except kafka_errors.KafkaError as exc:
        err = TransportError(f"{action} failed", detail=f"{type(exc).__name__}: {exc}")
        err.retriable = bool(getattr(exc, "retriable", False))
        raise err from exc
    except (OSError, ssl.SSLError) as exc:
        raise TransportError(f"{action}: connection failed", detail=str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class TlsIdentity:
    """A client certificate for mutual TLS: PEM files of the CA, the certificate and its key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def ssl_context(self) -> ssl.SSLContext:
        """Return a client context that verifies the broker and presents our certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(certfile=str(self.cert_file), keyfile=str(self.key_file))
        return ctx


@dataclass(frozen=True, kw_only=True)
class KafkaConnection:
    """How one node reaches Kafka: bootstrap address and, under mTLS, its identity."""

    bootstrap: str
    tls: TlsIdentity | None = None
    client_id: str = "dossier-broker"

    def client_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments shared by every aiokafka client."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "client_id": self.client_id}
        if self.tls is not None:
            kwargs["security_protocol"] = "SSL"
            kwargs["ssl_context"] = self.tls.ssl_context()
        return kwargs

    def producer(self, **overrides: Any) -> AIOKafkaProducer:
        """Return an idempotent, ``acks=all`` producer (not started)."""
        options: dict[str, Any] = {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "max_batch_size": 1 << 20,
            "max_request_size": 4 << 20,
            "request_timeout_ms": 30_000,
        }
        options.update(overrides)
        return AIOKafkaProducer(**{**self.client_kwargs(), **options})

    def consumer(self, *topics: str, group_id: str | None, **overrides: Any) -> AIOKafkaConsumer:
        """Return a manual-commit, ``read_committed`` consumer (not started)."""
        options: dict[str, Any] = {
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_committed",
            "max_partition_fetch_bytes": 4 << 20,
        }
        options.update(overrides)
        return AIOKafkaConsumer(*topics, **{**self.client_kwargs(), **options})

    @contextlib.asynccontextmanager
    async def admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        """Yield a started admin client, closing it afterwards."""
        client = AIOKafkaAdminClient(**self.client_kwargs())
        with translate_kafka_errors("connect admin client"):
            await client.start()
        try:
            yield client
        finally:
            await client.close()


async def ensure_topics(
    conn: KafkaConnection,
    *,
    layout: TopicLayout,
    agencies: list[str],
    partitions: int = 3,
    retention: Retention | None = None,
) -> list[str]:
    """Create the federation's topics that do not exist yet; return the names created.

    Replication factor is min(3, brokers) and ``min.insync.replicas`` min(2, brokers).
    ``<prefix>.federation`` is compacted. Every topic gets its retention from
    ``retention`` (default :class:`broker.retention.Retention`: audit, federation and
    rejected never expire); topics created by older versions, which had Kafka's 7-day
    default, are altered to it (logged as a warning).
    """
    retention = retention or Retention()
    async with conn.admin() as admin:
        with translate_kafka_errors("describe cluster"):
            cluster = await admin.describe_cluster()
            existing = set(await admin.list_topics())
        brokers = max(1, len(cluster.get("brokers", [])))
        rf = min(3, brokers)
        base = {"min.insync.replicas": str(min(2, brokers))}
        wanted: dict[str, dict[str, str]] = {layout.audit: dict(base)}
        wanted[layout.federation] = {**base, "cleanup.policy": "compact"}
        for agency in agencies:
            for topic in layout.agency_topics(agency):
                wanted[topic] = dict(base)
        for name, configs in wanted.items():
            configs.update(retention.topic_configs(layout, name))
        new = [
            NewTopic(
                name=name,
                num_partitions=1 if name == layout.federation else partitions,
                replication_factor=rf,
                topic_configs=configs,
            )
            for name, configs in sorted(wanted.items())
            if name not in existing
        ]
        if new:
            with translate_kafka_errors("create topics"):
                response = await admin.create_topics(new)
            for entry in response.topic_errors:
                name, code = entry[0], entry[1]
                error = kafka_errors.for_code(code)
                # Created concurrently by another node is fine.
                if code and error is not kafka_errors.TopicAlreadyExistsError:
                    raise TransportError(
                        f"cannot create topic {name}", detail=f"{error.__name__}: {entry[2:]}"
                    )
        older = {name: retention.topic_configs(layout, name) for name in wanted if name in existing}
        await _align_configs(admin, older)
        return [t.name for t in new]


async def ensure_compacted_topic(conn: KafkaConnection, topic: str) -> bool:
    """Create a one-partition compacted topic (a hash list) if missing; return whether created."""
    async with conn.admin() as admin:
        with translate_kafka_errors("describe cluster"):
            cluster = await admin.describe_cluster()
            if topic in set(await admin.list_topics()):
                return False
        brokers = max(1, len(cluster.get("brokers", [])))
        configs = {"cleanup.policy": "compact", "min.insync.replicas": str(min(2, brokers))}
        new = NewTopic(
            name=topic, num_partitions=1, replication_factor=min(3, brokers), topic_configs=configs
        )
        with translate_kafka_errors("create topics"):
            response = await admin.create_topics([new])
        for entry in response.topic_errors:
            error = kafka_errors.for_code(entry[1])
            if error is kafka_errors.TopicAuthorizationFailedError:
                raise AccessDeniedError(f"cannot create topic {topic}", detail=error.__name__)
            if entry[1] and error is not kafka_errors.TopicAlreadyExistsError:
                raise TransportError(f"cannot create topic {topic}", detail=error.__name__)
    return True


async def topic_configs(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Return the configs set on each topic itself (not inherited from the broker)."""
    if not topics:
        return {}
    with translate_kafka_errors("describe topic configs"):
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
        )
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        # DescribeConfigs v0 has ``is_default`` where v1+ has ``config_source``
        # (1 = DYNAMIC_TOPIC_CONFIG): https://kafka.apache.org/protocol#The_Messages_DescribeConfigs
        v0 = type(response).API_VERSION == 0
        for code, message, _type, name, entries, *_ in response.resources:
            if code:
                raise TransportError(
                    f"cannot describe topic {name}",
                    detail=f"{kafka_errors.for_code(code).__name__}: {message}",
                )
            found[name] = {
                e[0]: e[1] for e in entries if (not e[3] if v0 else e[3] == 1) and e[1] is not None
            }
    return found


async def _align_configs(admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]]) -> None:
    """Set ``wanted`` configs on existing topics whose own configs differ.

    AlterConfigs (the only variant aiokafka speaks) replaces a topic's whole set of
    dynamic configs, so each topic's current ones are sent back with the changes.
    """
    current = await topic_configs(admin, sorted(wanted))
    changes = []
    for name, configs in sorted(wanted.items()):
        have = current.get(name, {})
        if any(have.get(key) != value for key, value in configs.items()):
            log.warning(
                "topic %s: setting %s (was %s)",
                name,
                configs,
                {k: have.get(k, "broker default") for k in configs},
            )
            changes.append(ConfigResource(ConfigResourceType.TOPIC, name, {**have, **configs}))
    if not changes:
        return
    with translate_kafka_errors("alter topic configs"):
        responses = await admin.alter_configs(changes)
    for response in responses:
        for code, message, _type, name, *_ in response.resources:
            if code:
                raise TransportError(
                    f"cannot set the retention of topic {name}",
                    detail=f"{kafka_errors.for_code(code).__name__}: {message}",
                )
