"""``broker bench``: what every security guarantee costs, against plain aiokafka.

One process run against one real local Kafka measures, interleaved per
repetition (plain, secure classic, secure pq-hybrid, plain, ...) so that machine
drift hits both sides alike:

* :mod:`broker.devtools.bench.plain` — the ceiling: plain aiokafka produce and consume of
  random bytes the size of the dossier;
* :mod:`broker.devtools.bench.secure` — :meth:`broker.agency.AgencyNode.publish_many` (seal +
  produce) and :meth:`broker.agency.AgencyNode.consume` (consume + verify + decrypt +
  decode + de-duplicate), for both suites, 1/4/64 KiB dossiers, 1/3/10 recipients;
* :mod:`broker.devtools.bench.latency` — publish to decrypted-in-handler through the real
  router (a ``broker router run`` subprocess) at a fixed offered rate;
* :mod:`broker.devtools.bench.cpu_consume` — process CPU µs per consumed envelope, offline
  (the whole node consume path with a real store and audit journal, no Kafka);
* :mod:`broker.devtools.bench.audit` — audit replay-verify rate;
* :mod:`broker.devtools.bench.memory` — peak RSS of each process;
* :mod:`broker.devtools.bench.report` — medians, secure/plain ratios, the table and JSON;
* :mod:`broker.devtools.bench.runner` — the orchestration.

Example::

    >>> from broker.devtools.bench.report import median
    >>> median([3.0, 1.0, 2.0])
    2.0
"""

from __future__ import annotations
