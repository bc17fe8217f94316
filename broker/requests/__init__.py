"""The information-exchange workflow of Directive (EU) 2023/977: requests, replies, deadlines.

An agency asks another (``REQUEST`` envelope, :class:`InformationRequest`) with an
urgency whose time limit (8 h, 3 d, 7 d) runs from the router's stamp; the other
replies with dossiers linked to the request (``REPLY``, partial or final) or refuses
on an Art. 6 ground (``REFUSAL``). The responder's running inbox reminds it at 75 %
of the limit and notifies both sides when it passes (``DEADLINE_NOTICE``), each an
audited event. A reply never discloses a third agency's restricted holding without
that agency's grant. Cases group it all. See docs/requests.md.

Modules: :mod:`~broker.requests.model` (payloads), :mod:`~broker.requests.store`
(state), :mod:`~broker.requests.desk` (send, reply, refuse),
:mod:`~broker.requests.consent` (originator control), :mod:`~broker.requests.inbound`
(what arrives), :mod:`~broker.requests.deadlines` (the clock),
:mod:`~broker.requests.cases` (threads).

Example::

    >>> from broker.requests import Urgency
    >>> Urgency.from_cli("standard").limit(scale=1.0).days
    7
"""

from __future__ import annotations

from broker.requests.cases import Case, CaseLine, case_list, find_case
from broker.requests.deadlines import DeadlineLine, check, deadline_table, serve
from broker.requests.desk import RequestDesk, requests_db
from broker.requests.model import (
    DeadlineNotice,
    InformationRequest,
    RefusalGround,
    RequestRefusal,
    RequestReply,
    Urgency,
)
from broker.requests.store import RequestRow, RequestStore

__all__ = [
    "Case",
    "CaseLine",
    "DeadlineLine",
    "DeadlineNotice",
    "InformationRequest",
    "RefusalGround",
    "RequestDesk",
    "RequestRefusal",
    "RequestReply",
    "RequestRow",
    "RequestStore",
    "Urgency",
    "case_list",
    "check",
    "deadline_table",
    "find_case",
    "requests_db",
    "serve",
]
