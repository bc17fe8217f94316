"""The demo's last hint: the console command to explore the state it leaves behind."""

from __future__ import annotations

from broker.config import Settings

__all__ = ["console_hint"]


def console_hint(settings: Settings) -> str:
    """One line: how to browse the demo's inbox, hub and audit log in the analyst console.

    >>> from pathlib import Path
    >>> "broker console --as EUROPOL --offline --home /d" in console_hint(Settings(home=Path("/d")))
    True
    """
    return (
        f"   explore it in a browser:  broker console --as EUROPOL --offline --home {settings.home}"
        "  (or --as ES-PN, --auditor)"
    )
