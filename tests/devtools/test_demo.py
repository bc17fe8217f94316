"""The demo names a process of its federation that died, with the end of its log.

A router or hub that exits early leaves the demo waiting for deliveries that never come;
CI then showed only the wait's timeout (the cause was in a log file nobody printed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from broker.devtools.demo import _exited


def _proc(*args: str, code: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=out, stderr=subprocess.STDOUT
        )


def test_a_dead_router_is_named_with_the_end_of_its_log(tmp_path: Path) -> None:
    died = _proc(
        "router",
        "run",
        code="import sys; print('line 1'); print('RegistryRollbackError: older'); sys.exit(2)",
        log=tmp_path / "router.log",
    )
    alive = _proc(
        "inbox", "--as", "ES-PN", code="import time; time.sleep(30)", log=tmp_path / "ES-PN.log"
    )
    try:
        died.wait(timeout=30)
        lines = _exited([died, alive], tmp_path, tail=1)
    finally:
        alive.kill()
        alive.wait()
    assert (
        lines[0]
        == f"   process `broker router` (router) exited with 2; end of {tmp_path / 'router.log'}:"
    )
    assert lines[1:] == [
        "     | RegistryRollbackError: older"
    ]  # the last line only; the live one not named
