"""Synthetic requests and replies for tests, the demo and ``--help`` examples (all fictitious).

Example::

    >>> r = example_request(seed=3, case_ref="CASE-SYNTH-R3", urgency=Urgency.URGENT_DIRECT)
    >>> r.urgency.cli, r.selectors[0].value.startswith("+4477009")
    ('urgent-direct', True)
"""

from __future__ import annotations

import datetime as dt
import random

from broker.models import Dossier, Selector
from broker.requests.model import InformationRequest, Urgency
from broker.synthetic import example_codes, example_dossier, fake_phone

__all__ = ["example_reply", "example_request"]


def example_request(
    *, seed: int, case_ref: str, urgency: Urgency = Urgency.STANDARD, phone: str | None = None
) -> InformationRequest:
    """Return a request about one fictitious phone number (``phone`` or a generated one)."""
    codes = example_codes(random.Random(seed)).model_copy(  # noqa: S311 - synthetic data
        update={
            "legal_basis": "Directive (EU) 2023/977 Art. 4",
            "purpose": "identify the subscriber of a number seen in a synthetic case",
        }
    )
    return InformationRequest(
        case_ref=case_ref,
        urgency=urgency,
        urgency_reason=None if urgency == Urgency.STANDARD else "synthetic: imminent risk",
        codes=codes,
        selectors=[Selector(type="PHONE_E164", value=phone or fake_phone(seed), platform=None)],
        question="Who is the subscriber, and is the number linked to other cases?",
        created_at=dt.datetime.now(dt.UTC),
    )


def example_reply(*, seed: int, case_ref: str, phone: str | None = None) -> Dossier:
    """Return a one-person dossier answering a request (holding ``phone`` if given)."""
    doc = example_dossier(seed).model_dump()
    doc["case_ref"] = case_ref
    doc["persons"] = doc["persons"][:1]
    if phone is not None:
        doc["persons"][0]["selectors"] = [{"type": "PHONE_E164", "value": phone, "platform": None}]
    doc["persons"][0]["documents"], doc["groups"], doc["devices"], doc["media"] = [], [], [], []
    doc["attachments"] = []
    return Dossier.model_validate(doc)
