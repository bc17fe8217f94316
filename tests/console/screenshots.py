"""Screenshots of the console's main pages from the demo's state (``make screenshots``).

Runs ``broker console --offline`` on the demo's home (``state/demo``; run ``make demo``
first) for EUROPOL (the hub), ES-PN and the auditor (the demo's audit export), and saves
PNGs under ``docs/screenshots/`` (or ``$CONSOLE_SCREENSHOTS``: CI renders the demo's state
there to prove every main page loads it without an error in the browser console). Every
person and case in them is synthetic.

    $ .venv/bin/python -m tests.console.screenshots [HOME]
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.console.browser import ROOT, ConsoleProcess, Errors, headless

OUT = Path(os.environ.get("CONSOLE_SCREENSHOTS") or ROOT / "docs" / "screenshots")


async def shoot(home: Path) -> list[Path]:
    """Save the screenshots; return their paths."""
    env = {"BROKER_HOME": str(home.resolve())}
    OUT.mkdir(parents=True, exist_ok=True)
    errors = Errors()
    saved: list[Path] = []
    async with (
        ConsoleProcess(["--as", "EUROPOL", "--offline"], env=env) as hub,
        # Not --offline, so the Grant / Deny buttons show; nothing is clicked, nothing sent
        # (the console connects only when an action is taken).
        ConsoleProcess(["--as", "ES-PN"], env={**env, "KAFKA_BOOTSTRAP": "127.0.0.1:9"}) as es,
        ConsoleProcess(["--auditor", "--offline"], env=env) as auditor,
        headless() as browser,
    ):
        page = errors.watch(await browser.new_page(viewport={"width": 1400, "height": 900}))

        async def snap(url: str, name: str, *, full: bool = False) -> None:
            await page.goto(url)
            path = OUT / f"{name}.png"
            await page.screenshot(path=str(path), full_page=full)
            saved.append(path)

        await page.goto(hub.login_url)
        await snap(hub.url("/inbox"), "inbox")
        restricted = page.locator("#inbox tr.restricted a").first
        await snap(hub.url(await restricted.get_attribute("href") or "/inbox"), "dossier")
        await snap(hub.url("/hub"), "hub")
        await page.goto(es.login_url)
        await snap(es.url("/hits"), "hits")
        await snap(es.url("/sent"), "sent")
        envelope = await page.locator("#sent tbody tr td code").first.inner_text()
        await page.goto(auditor.login_url)
        await snap(auditor.url("/audit"), "audit", full=True)
        await snap(auditor.url(f"/audit/trail?dossier={envelope}"), "trail")
    if errors:
        raise SystemExit(f"browser console errors: {errors}")
    return saved


def main() -> None:
    home = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "state" / "demo"
    if not (home / "state").is_dir():
        raise SystemExit(f"no demo state in {home}: run `make demo` first")
    for path in asyncio.run(shoot(home)):
        print(f"saved {path}")


if __name__ == "__main__":
    main()
