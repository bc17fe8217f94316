"""Export a signed takedown notice as an XARF v4 report (JSON), hash-only.

XARF v4 (https://xarf.org, abusix/xarf) is the closest open, vendor-neutral abuse
report format; AWS's abuse intake takes it. The export is category ``content``,
type ``csam``, with the URL's host as ``source_identifier``, the item hashes in
``hash_values`` and one evidence item: the hotline's *signed* notice
(``eu.fed.hotline.SignedNotice``, base64) — hashes and reference ids only, never
content. A provider (or anyone with the federation's public registry) verifies
that evidence with :func:`broker.hotline.notices.verify_notice`.

Example::

    >>> doc = {"xarf_version": XARF_VERSION}
    >>> doc["xarf_version"]
    '4.0.0'
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any
from urllib.parse import urlsplit

from broker.codec import SchemaStore
from broker.hotline.notices import Notice

__all__ = ["SIGNED_NOTICE_MIME", "XARF_VERSION", "Contact", "to_xarf"]

XARF_VERSION = "4.0.0"
SIGNED_NOTICE_MIME = "application/vnd.eu-fed.signed-notice+avro"

Contact = dict[str, str]


def to_xarf(notice: Notice, *, reporter: Contact, sender: Contact | None = None) -> dict[str, Any]:
    """Return the XARF v4 report of ``notice``. ``reporter``: ``{"org", "contact", "domain"}``."""
    body = SchemaStore.default().decode(
        "eu.fed.hotline.TakedownNotice",
        SchemaStore.default().decode("eu.fed.hotline.SignedNotice", notice.signed)["body"],
    )
    hashes: dict[str, str] = {}
    for h in notice.hashes:
        kind, _, value = h.partition(":")
        if kind in ("sha256", "md5"):
            hashes.setdefault(kind, value)
    doc: dict[str, Any] = {
        "xarf_version": XARF_VERSION,
        "report_id": str(uuid.UUID(hex=notice.notice_id)),
        "timestamp": notice.issued_at.isoformat().replace("+00:00", "Z"),
        "reporter": dict(reporter),
        "sender": dict(sender or reporter),
        "source_identifier": urlsplit(notice.url).hostname or notice.url,
        "category": "content",
        "type": "csam",
        "url": notice.url,
        "detection_method": "hash_match" if body["reappearance_of"] else "manual_review",
        "hash_values": hashes,
        "evidence_source": "user_report",
        "evidence": [
            {
                "content_type": SIGNED_NOTICE_MIME,
                "description": "Signed hash-only notice (no content); verify with the "
                "issuing hotline's federation key",
                "payload": base64.b64encode(notice.signed).decode("ascii"),
                "hash": "sha256:" + hashlib.sha256(notice.signed).hexdigest(),
            }
        ],
        "tags": [f"hotline:{body['issuer'].lower()}", f"country:{notice.host_country.lower()}"],
        "description": f"Hosting provider {notice.provider}: please remove; "
        f"notice {notice.notice_id}, re-sent every 24 h until removed",
    }
    if body["classification"] == "ILLEGAL_WORLDWIDE":
        doc["classification"] = "baseline"  # illegal internationally (INTERPOL baseline)
    return doc
