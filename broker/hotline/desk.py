"""A hotline's intake: URL reports routed to it are checked and kept for notices.

:class:`HotlineDesk` is an inbox handler (:meth:`broker.agency.AgencyNode.consume`).
A ``URL_REPORT`` is decoded and checked (:func:`broker.hotline.report.check_routed`:
its signer is its reporting hotline, and this member is where its hosting country
routes); a report that fails raises a typed error, so the inbox dead-letters it
with the reason and answers with a REJECTED receipt — never silently dropped.

Example::

    desk = HotlineDesk(node=node, book=NoticeBook.open(path, issuer=node.agency))
    await node.consume(handler=desk.on_delivery, until_idle=5)
"""

from __future__ import annotations

from broker.agency import AgencyNode, Delivery
from broker.hotline.notices import NoticeBook
from broker.hotline.report import KIND, UrlReport, check_routed
from broker.topics import HUB

__all__ = ["HotlineDesk"]


class HotlineDesk:
    """Keep every URL report routed to this hotline (or hub)."""

    def __init__(self, *, node: AgencyNode, book: NoticeBook, hub: str = HUB) -> None:
        self.node = node
        self.book = book
        self.hub = hub
        self.kept = 0

    async def on_delivery(self, delivery: Delivery) -> None:
        """Check and keep one delivered URL report (other kinds are not ours to handle)."""
        header = delivery.opened.header
        if header.kind != KIND:
            return
        report = UrlReport.from_bytes(delivery.opened.payload)
        trust = self.node.trust
        check_routed(
            report,
            sender=header.sender,
            me=trust.member(self.node.agency),
            members=trust.members(),
            hub=self.hub,
        )
        if self.book.keep(report, sender=header.sender):
            self.kept += 1
