"""The auditor's pages: the verification state of every stream, trails, proofs, export.

:class:`AuditState` runs the same jobs as ``broker audit``
(:func:`broker.audit.auditor.replay_and_verify` from ``fed.audit`` at offset 0, or
:func:`~broker.audit.auditor.verify_archive` on an export) and keeps the finished
verifier (with its events) until the auditor asks for a new replay. Trails, inclusion
proofs and the exported report are all read from that one verified replay.

Example::

    state = AuditState(settings, connect=lambda: connection_for(settings, AUDITOR))
    verifier = await state.verifier()
    print(verifier.report.verdict)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from broker.audit.auditor import replay_and_verify, trail_of, verify_archive
from broker.audit.proof import build_proof
from broker.audit.verify import AuditVerifier
from broker.config import Settings
from broker.errors import ConfigError
from broker.transport import KafkaConnection

__all__ = ["AuditState", "stream_rows", "trail_rows"]


class AuditState:
    """One verified replay at a time, for every page of the auditor's console."""

    def __init__(
        self,
        settings: Settings,
        *,
        connect: Callable[[], KafkaConnection] | None = None,
        archive: Path | None = None,
    ) -> None:
        if connect is None and archive is None:
            raise ConfigError("the auditor console needs Kafka or an --archive to verify")
        self.settings = settings
        self.archive = archive
        self._connect = connect
        self._verifier: AuditVerifier | None = None
        self._lock = asyncio.Lock()
        #: When the kept replay finished (UTC).
        self.verified_at: dt.datetime | None = None

    @property
    def source(self) -> str:
        """What is verified: the archive directory, or the audit topic."""
        return f"archive {self.archive}" if self.archive else "fed.audit from offset 0 (Kafka)"

    async def verifier(self, *, again: bool = False) -> AuditVerifier:
        """The kept verified replay; a new one first if ``again`` or none was made yet."""
        async with self._lock:
            if self._verifier is None or again:
                if self._connect is not None and self.archive is None:
                    self._verifier = await replay_and_verify(
                        self.settings, conn=self._connect(), keep_events=True
                    )
                else:
                    archive = self.archive or self.settings.state_dir / "audit-export"
                    self._verifier = await asyncio.to_thread(
                        verify_archive, self.settings, archive, keep_events=True
                    )
                self.verified_at = dt.datetime.now(dt.UTC)
            return self._verifier

    async def proof(self, event_id: str) -> dict[str, Any]:
        """The inclusion proof of one event (``broker audit proof``), from the kept replay."""
        return build_proof(await self.verifier(), event_id=event_id)


def stream_rows(verifier: AuditVerifier) -> list[dict[str, Any]]:
    """One row per stream: size, checkpoints, anchoring, and OK or its findings."""
    report = verifier.report
    by_stream: dict[str | None, list[Any]] = {}
    for f in report.findings:
        by_stream.setdefault(f.stream, []).append(f)
    rows = []
    for name, info in sorted(report.streams.items()):
        found = by_stream.get(name, [])
        rows.append(
            {
                "stream": name,
                "size": info.get("size", 0),
                "checkpoints": info.get("checkpoints", 0),
                "anchored": bool(info.get("anchored_against_rollback")),
                "fresh": bool(info.get("fresh")),
                "state": "OK" if not found else f"{len(found)} finding(s)",
                "ok": not found,
            }
        )
    return rows


def trail_rows(verifier: AuditVerifier, dossier: str) -> list[dict[str, Any]]:
    """A dossier's chain of custody in time order (``broker audit trail --json``)."""
    return [
        {
            "at": ev.at.isoformat(timespec="milliseconds"),
            "kind": ev.kind.value,
            "actor": ev.actor,
            "parties": ev.parties,
            "outcome": ev.outcome,
            "reason": ev.reason,
            "stream": ev.stream,
            "seq": ev.seq,
            "event_id": ev.event_id,
            "verified": verified,
        }
        for ev, verified in trail_of(verifier, dossier)
    ]
