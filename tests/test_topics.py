"""Topic layout, agency ids and the ACLs derived from the access matrix."""

from __future__ import annotations

import pytest

from broker.acls import AclOperation, ResourceType, acl_bindings
from broker.errors import ConfigError
from broker.topics import Operation, TopicLayout, access_matrix, check_agency_id

AGENCIES = ["ES-PN", "DE-BKA", "EUROPOL"]


@pytest.mark.parametrize("agency", ["ES-PN", "DE-BKA", "PT-PJ", "AR-PFA", "CL-PDI", "EUROPOL"])
def test_real_agency_ids_are_accepted(agency: str) -> None:
    assert check_agency_id(agency) == agency


@pytest.mark.parametrize("agency", ["", "es-pn", "ES PN", "ES-PN.inbox", "../x", "E", "ES--PN"])
def test_malformed_agency_ids_are_rejected(agency: str) -> None:
    with pytest.raises(ConfigError):
        check_agency_id(agency)


def test_topic_names_follow_the_layout_and_prefix() -> None:
    layout = TopicLayout(prefix="acme")
    assert layout.outbox("ES-PN") == "acme.outbox.ES-PN"
    assert layout.inbox("ES-PN") == "acme.inbox.ES-PN"
    assert layout.rejected("ES-PN") == "acme.rejected.ES-PN"
    assert layout.audit == "acme.audit"
    assert layout.federation == "acme.federation"
    assert layout.agency_of_outbox("acme.outbox.DE-BKA") == "DE-BKA"
    with pytest.raises(ConfigError):
        layout.agency_of_outbox("acme.inbox.DE-BKA")


def test_agency_may_write_only_its_own_outbox_and_read_only_its_own_inbox() -> None:
    layout = TopicLayout()
    matrix = {(p.principal, p.topic, p.operation) for p in access_matrix(layout, AGENCIES)}
    for me in AGENCIES:
        for other in AGENCIES:
            own = me == other
            assert ((me, layout.outbox(other), Operation.WRITE) in matrix) is own
            assert ((me, layout.inbox(other), Operation.READ) in matrix) is own
            assert (me, layout.inbox(other), Operation.WRITE) not in matrix
            assert (me, layout.outbox(other), Operation.READ) not in matrix


def test_acl_bindings_give_each_agency_only_its_own_group() -> None:
    layout = TopicLayout()
    groups = {
        (b.principal, b.resource_name)
        for b in acl_bindings(layout, AGENCIES)
        if b.resource_type is ResourceType.GROUP and b.operation is AclOperation.READ
    }
    assert groups == {(f"User:{a}", layout.consumer_group(a)) for a in AGENCIES} | {
        ("User:router", layout.router_group)
    }
