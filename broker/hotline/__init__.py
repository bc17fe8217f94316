"""Hotlines: URL reports, shared known-material confirmation, takedown notices.

* :mod:`broker.hotline.report` — the ``eu.fed.hotline.UrlReport`` payload (envelope
  kind ``URL_REPORT``), list-based automatic classification, and where a report goes
  (the hotline covering the hosting country, else the hub);
* :mod:`broker.hotline.confirm` — the two-analyst rule for the shared list;
* :mod:`broker.hotline.notices` — takedown notices, their life cycle and XARF export;
* :mod:`broker.hotline.metrics` — time to removal per provider and country.
"""

from __future__ import annotations
