"""Secure inter-agency message broker for intelligence dossiers.

Dossiers travel over Apache Kafka as Avro envelopes that are end-to-end encrypted
to their named recipient agencies (HPKE, RFC 9180) and signed by their sender.
Every action leaves an audit event in an RFC 9162 Merkle log.

The public API is re-exported from the submodules named after the architecture:
``broker.errors``, ``broker.config``, ``broker.local`` (a real local Kafka), and
more as they land. Anything under ``broker._internal`` is unstable.
"""

from __future__ import annotations

__version__ = "0.1.0"
