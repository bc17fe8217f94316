"""Federation trust: a root certifies each agency's keys; rotation and revocation.

Public API::

    from broker.trust import TrustStore, AgencyIdentity, load_trust, load_identity

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN"])
    >>> fed.trust.agency_ids()
    ['ES-PN']
"""

from __future__ import annotations

from broker.trust.certificates import FederationRoot, RootPublicKeys
from broker.trust.keys import (
    AgencyIdentity,
    DecryptionKeyPair,
    EncryptionPublicKeys,
    SigningKeyPair,
    SigningPublicKeys,
)
from broker.trust.registry import AgencyProfile, TrustStore
from broker.trust.storage import (
    add_agency,
    init_federation,
    load_identity,
    load_trust,
    remove_agency,
    revoke_key,
    rotate_keys,
)

__all__ = [
    "AgencyIdentity",
    "AgencyProfile",
    "DecryptionKeyPair",
    "EncryptionPublicKeys",
    "FederationRoot",
    "RootPublicKeys",
    "SigningKeyPair",
    "SigningPublicKeys",
    "TrustStore",
    "add_agency",
    "init_federation",
    "load_identity",
    "load_trust",
    "remove_agency",
    "revoke_key",
    "rotate_keys",
]
