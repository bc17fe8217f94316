"""Kafka ACLs derived from the topic layout, so an agency writes only its own outbox
and reads only its own inbox.

:func:`acl_bindings` turns :func:`broker.topics.access_matrix` plus consumer groups
and transactional ids into Kafka ACL bindings; :func:`apply_acls` creates them on a
cluster running ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``.
Principals are ``User:<certificate CN>``: each agency id, ``router``, ``auditor``.

Example::

    >>> from broker.topics import TopicLayout
    >>> bindings = acl_bindings(TopicLayout(prefix="fed"), ["ES-PN"])
    >>> any(b.principal == "User:ES-PN" and b.resource_name == "fed.outbox.ES-PN"
    ...     and b.operation is AclOperation.WRITE for b in bindings)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from aiokafka.protocol.admin import CreateAclsRequest

from broker.errors import TransportError
from broker.topics import ROUTER, Operation, TopicLayout, access_matrix
from broker.transport import KafkaConnection, error_name, translate_kafka_errors

__all__ = [
    "AUDITOR",
    "AclBinding",
    "AclOperation",
    "PatternType",
    "ResourceType",
    "acl_bindings",
    "apply_acls",
]

#: Principal of auditors replaying the audit log and dead letters.
AUDITOR = "auditor"


class ResourceType(IntEnum):
    """Kafka resource types (org.apache.kafka.common.resource.ResourceType codes)."""

    TOPIC = 2
    GROUP = 3
    TRANSACTIONAL_ID = 5


class PatternType(IntEnum):
    """Kafka resource pattern types."""

    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    """Kafka ACL operations (org.apache.kafka.common.acl.AclOperation codes)."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


_ALLOW = 3


@dataclass(frozen=True, kw_only=True)
class AclBinding:
    """One ALLOW rule."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern: PatternType
    operation: AclOperation


def acl_bindings(layout: TopicLayout, agencies: list[str]) -> list[AclBinding]:
    """Return every ALLOW binding the federation needs; anything not listed is denied."""
    out: set[AclBinding] = set()

    def allow(
        principal: str,
        kind: ResourceType,
        name: str,
        op: AclOperation,
        pattern: PatternType = PatternType.LITERAL,
    ) -> None:
        out.add(
            AclBinding(
                principal=f"User:{principal}",
                resource_type=kind,
                resource_name=name,
                pattern=pattern,
                operation=op,
            )
        )

    for perm in access_matrix(layout, agencies):
        op = AclOperation.READ if perm.operation is Operation.READ else AclOperation.WRITE
        allow(perm.principal, ResourceType.TOPIC, perm.topic, op)
    for agency in agencies:
        # Hash lists: only the owner writes (and creates) its lists' topics; every agency reads.
        lists, own = layout.hashlist_prefix(), layout.hashlist_prefix(agency)
        for list_op in (AclOperation.WRITE, AclOperation.CREATE):
            allow(agency, ResourceType.TOPIC, own, list_op, PatternType.PREFIXED)
        allow(agency, ResourceType.TOPIC, lists, AclOperation.READ, PatternType.PREFIXED)
        allow(agency, ResourceType.GROUP, layout.consumer_group(agency), AclOperation.READ)
        allow(AUDITOR, ResourceType.TOPIC, layout.rejected(agency), AclOperation.READ)
    allow(ROUTER, ResourceType.GROUP, layout.router_group, AclOperation.READ)
    for txn_op in (AclOperation.WRITE, AclOperation.DESCRIBE):
        kind = ResourceType.TRANSACTIONAL_ID
        allow(ROUTER, kind, layout.router_group, txn_op, PatternType.PREFIXED)
    for topic in (layout.audit, layout.federation):
        allow(AUDITOR, ResourceType.TOPIC, topic, AclOperation.READ)
    return sorted(out, key=lambda b: (b.principal, b.resource_type, b.resource_name, b.operation))


async def apply_acls(conn: KafkaConnection, bindings: list[AclBinding]) -> int:
    """Create ``bindings`` on the cluster (idempotent); return how many were sent.

    aiokafka's admin client has no public ACL call, so this sends Kafka's
    CreateAcls request (API key 30) through the admin client's request path;
    it is the only use of that private path in the package.
    """
    async with conn.admin() as admin:
        for binding in bindings:
            request = CreateAclsRequest(
                resource_type=int(binding.resource_type),
                resource_name=binding.resource_name,
                resource_pattern_type_filter=int(binding.pattern),
                principal=binding.principal,
                host="*",
                operation=int(binding.operation),
                permission_type=_ALLOW,
            )
            with translate_kafka_errors("create ACL"):
                response = await admin._send_request(request)
            for code, message in response.creation_responses:
                if code:
                    raise TransportError(
                        "cannot create ACL",
                        detail=f"{error_name(code)}: {message} ({binding})",
                    )
    return len(bindings)
