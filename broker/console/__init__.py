"""The analyst console: a local web application for a national unit, the hub or an auditor.

``broker console --as AGENCY`` serves, on 127.0.0.1, the agency's inbox (live, with
search and filters), each dossier with its handling codes as analysts read them (H-code,
TLP colour, 4x4 evaluation, a banner for H2 / TLP:RED / AMBER+STRICT), receipts of what
it sent, and the hit notifications and release requests it received, with grant and
deny buttons; for the agency that runs the hub, also its linked clusters drawn as a
graph, known-material hits, release requests, hash lists and quarantines.
``broker console --auditor`` shows the verification state of every audit stream, a
dossier's chain of custody, inclusion proofs and the exported report.

It is a runtime package: pages read the same stores the CLI reads, and every action
goes through the same node API (:mod:`broker.console.actions`), so it is signed,
audited and checked the same way. The command line hands it its Kafka connection.
Security: :mod:`broker.console.security`.

Example::

    app = create_app(ConsoleConfig(settings=settings, agency="ES-PN"))
"""

from __future__ import annotations

from broker.console.app import ConsoleConfig, create_app

__all__ = ["ConsoleConfig", "create_app"]
