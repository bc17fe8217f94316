"""Pydantic models of the domain, converting losslessly to and from the Avro records.

Example::

    >>> from broker.models import Dossier
    >>> sorted(Dossier.model_fields)[:3]
    ['attachments', 'case_ref', 'codes']
"""

from __future__ import annotations

from broker.models.codes import Codes, Evaluation
from broker.models.dossier import (
    PDQ_MIN_QUALITY,
    Attachment,
    Dossier,
    Group,
    IdentityDocument,
    Location,
    MediaReference,
    MessageLink,
    Person,
    SeizedDevice,
    Selector,
    validate_dossier_json,
)
from broker.models.selectors import normalize_selector

__all__ = [
    "PDQ_MIN_QUALITY",
    "Attachment",
    "Codes",
    "Dossier",
    "Evaluation",
    "Group",
    "IdentityDocument",
    "Location",
    "MediaReference",
    "MessageLink",
    "Person",
    "SeizedDevice",
    "Selector",
    "normalize_selector",
    "validate_dossier_json",
]
