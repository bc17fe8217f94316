"""Each node's Kafka configuration files: KRaft quorum, replication, and mutual TLS with ACLs.

One combined broker+controller per node; three nodes get replication factor 3
and ``min.insync.replicas=2``, one node gets 1 and 1. With TLS every listener
requires a client certificate from :class:`broker.local.tls.LocalCA` and the
``StandardAuthorizer`` allows nothing without an ACL.

Example::

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> node = NodeInfo(node_id=1, client_port=9092, controller_port=9093,
    ...                 directory=str(root / "node-1"))
    >>> rec = ClusterRecord(version="4.0.0", cluster_id="x", bootstrap="127.0.0.1:9092",
    ...                     tls=False, root=str(root), libs="libs", nodes=[node])
    >>> write_node_properties(rec, node)
    >>> text = (root / "node-1" / "server.properties").read_text()
    >>> "controller.quorum.voters=1@127.0.0.1:9093" in text, "min.insync.replicas=1" in text
    (True, True)
"""

from __future__ import annotations

from pathlib import Path

from broker.local.record import ClusterRecord, NodeInfo
from broker.local.tls import ADMIN_PRINCIPAL, BROKER_PRINCIPAL

__all__ = ["write_node_properties"]

_LOG4J = """\
appender.f.type=File
appender.f.name=FILE
appender.f.fileName=${sys:kafka.logs.dir}/server.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.f.ref=FILE
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
"""


def write_node_properties(record: ClusterRecord, info: NodeInfo) -> None:
    """Write ``server.properties`` and ``log4j2.properties`` into ``info``'s directory."""
    nodes = record.nodes
    rf, min_isr = (3, 2) if len(nodes) == 3 else (1, 1)
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    d = Path(info.directory)
    (d / "logs").mkdir(parents=True, exist_ok=True)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(info.node_id),
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(d / "data"),
        "num.partitions": "3",
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "2097152",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
        "transaction.max.timeout.ms": "900000",
    }
    if record.tls:
        tls_dir = Path(record.root) / "tls"
        props |= {
            "listeners": f"CLIENT://127.0.0.1:{info.client_port},"
            f"CONTROLLER://127.0.0.1:{info.controller_port}",
            "advertised.listeners": f"CLIENT://127.0.0.1:{info.client_port}",
            "inter.broker.listener.name": "CLIENT",
            "listener.security.protocol.map": "CLIENT:SSL,CONTROLLER:SSL",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls_dir / f"{BROKER_PRINCIPAL}.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls_dir / "ca.crt"),
            "ssl.client.auth": "required",
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.principal.mapping.rules": "RULE:^CN=([a-zA-Z0-9._-]+).*$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{BROKER_PRINCIPAL};User:{ADMIN_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
        }
    else:
        props |= {
            "listeners": f"PLAINTEXT://127.0.0.1:{info.client_port},"
            f"CONTROLLER://127.0.0.1:{info.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{info.client_port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        }
    text = "".join(f"{k}={v}\n" for k, v in props.items())
    (d / "server.properties").write_text(text)
    (d / "log4j2.properties").write_text(_LOG4J)
