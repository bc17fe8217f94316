"""A real Apache Kafka on this machine, from Maven Central jars (``broker local``).

No Docker and no Apache download site are needed: Maven fetches the pinned broker
jars (``broker/local/pom.xml``) into ``~/.cache/dossier-broker``, and
:class:`LocalCluster` formats KRaft storage and starts one node or three on
127.0.0.1. This is a developer tool: the runtime (agency node, router, hub) is
given its :class:`~broker.transport.KafkaConnection`; only the command line
resolves one, through :mod:`broker.connect`.

Example::

    cluster = await LocalCluster.start(state_dir=Path("state"), nodes=1, cache_dir=cache)
"""

from __future__ import annotations

from broker.local.cluster import LocalCluster
from broker.local.jars import fetch_jars, kafka_version
from broker.local.record import NodeInfo, read_record
from broker.local.tls import ADMIN_PRINCIPAL

__all__ = [
    "ADMIN_PRINCIPAL",
    "LocalCluster",
    "NodeInfo",
    "fetch_jars",
    "kafka_version",
    "read_record",
]
