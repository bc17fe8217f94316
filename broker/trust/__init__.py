"""Federation trust: a root certifies each agency's keys; rotation and revocation.

Public API::

    from broker.trust import TrustStore, AgencyIdentity, load_trust, load_identity

Administration (init, add, rotate, revoke, remove) is :mod:`broker.federation`,
which writes federation audit events; importing this package never loads the
audit writer.

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
from broker.trust.keystore import load_identity, load_trust
from broker.trust.registry import AgencyProfile, TrustStore

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
    "load_identity",
    "load_trust",
]
