"""Drive the console in a real browser: the distribution's headless Chromium, via Playwright.

Playwright's Python package is only the driver here: it launches ``/usr/bin/chromium``
(Debian's ``chromium`` package, installed by ``scripts/install-browser.sh`` — which
``make test`` runs, and which this module runs itself when root), never a browser
build of its own. Without Chromium and without root to install it, the browser tests
skip with that reason.

:class:`ConsoleProcess` runs ``broker console`` as its own process, exactly as an
analyst starts it, and reads the access URL it prints.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
#: How long to wait for something expected (a loaded machine is slow; nothing is timed).
PATIENCE_MS = 120_000


def chromium() -> Path:
    """The distribution's Chromium, installed first if missing and we are root; else skip."""
    if not CHROMIUM.exists() and os.geteuid() == 0:
        subprocess.run(["bash", str(ROOT / "scripts" / "install-browser.sh")], check=True)
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed and this is not root (run `make browser` as root)")
    return CHROMIUM


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ConsoleProcess:
    """``broker console ARGS`` in its own process; :attr:`login_url` is what it printed."""

    def __init__(self, args: list[str], *, env: dict[str, str]) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.login_url = ""
        # A file, not a pipe: a pipe nobody reads fills up and then blocks the server the
        # first time it logs a long traceback (the test would time out instead of failing).
        fd, name = tempfile.mkstemp(prefix="broker-console-", suffix=".log")
        self.log = Path(name)
        with os.fdopen(fd, "w") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "broker", "console", *args, "--port", str(self.port)],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    @property
    def output(self) -> str:
        """What the process printed so far (its log)."""
        return self.log.read_text(errors="replace")

    async def started(self) -> ConsoleProcess:
        """Wait for the printed access URL, then until the server answers."""
        for _ in range(1500):
            found = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)", self.output)
            if found:
                self.login_url = found.group(1)
                break
            if self._proc.poll() is not None:
                raise AssertionError(f"broker console exited: {self.output}")
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"broker console printed no access URL: {self.output}")
        async with httpx.AsyncClient() as client:
            for _ in range(600):  # until it listens (the process imports, then binds)
                try:
                    await client.get(f"{self.origin}/login")
                    return self
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
        raise AssertionError("broker console never answered")

    def url(self, path: str) -> str:
        """An absolute URL of this console."""
        return self.origin + path

    def stop(self) -> None:
        """Stop the process (SIGTERM: uvicorn shuts the app down cleanly)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if "Traceback" in self.output:  # shown with a failing test's captured output
            print(f"--- broker console {self.port} log:\n{self.output[-8000:]}")
        self.log.unlink(missing_ok=True)

    async def __aenter__(self) -> ConsoleProcess:
        try:
            return await self.started()
        except BaseException:
            self.stop()
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Errors(list[str]):
    """Errors a page reported in its console (and uncaught script errors)."""

    def watch(self, page: Page) -> Page:
        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.append(f"{page.url}: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.append(f"{page.url}: {exc}"))
        page.set_default_timeout(PATIENCE_MS)
        return page


@asynccontextmanager
async def headless() -> AsyncIterator[Browser]:
    """Headless Chromium from the distribution."""
    path = chromium()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(path), headless=True)
        try:
            yield browser
        finally:
            await browser.close()
