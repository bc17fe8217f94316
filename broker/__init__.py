"""Secure inter-agency message broker for intelligence dossiers.

Dossiers travel over Apache Kafka as Avro envelopes that are end-to-end encrypted
to their named recipient agencies (HPKE, RFC 9180) and signed by their sender.
Every action leaves an audit event in an RFC 9162 Merkle log.

The curated public API is re-exported here and resolved on first use, so that
``import broker`` stays cheap (the command line imports it on every run) and no
package is loaded before it is needed. Anything under ``broker._internal`` and
``broker.devtools`` is not API.

Example::

    >>> import broker
    >>> broker.Settings(home="/srv/fed").keys_dir.as_posix()
    '/srv/fed/keys'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AgencyNode",
    "AuditLog",
    "AuditVerifier",
    "Delivery",
    "Dossier",
    "Error",
    "Hub",
    "PublishResult",
    "Router",
    "Settings",
    "TrustStore",
    "Verifier",
]

_WHERE = {
    "AgencyNode": "broker.agency",
    "AuditLog": "broker.audit",
    "AuditVerifier": "broker.audit",
    "Delivery": "broker.agency",
    "Dossier": "broker.models",
    "Error": "broker.errors",
    "Hub": "broker.hub",
    "PublishResult": "broker.agency",
    "Router": "broker.router",
    "Settings": "broker.config",
    "TrustStore": "broker.trust",
    "Verifier": "broker.envelope",
}

if TYPE_CHECKING:
    from broker.agency import AgencyNode, Delivery, PublishResult
    from broker.audit import AuditLog, AuditVerifier
    from broker.config import Settings
    from broker.envelope import Verifier
    from broker.errors import Error
    from broker.hub import Hub
    from broker.models import Dossier
    from broker.router import Router
    from broker.trust import TrustStore


def __getattr__(name: str) -> Any:
    """Resolve a public name on first use (PEP 562)."""
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'broker' has no attribute {name!r}")
