"""The kill-after-accept fault: armed by a file, it SIGKILLs its own process once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from broker.devtools.chaos.faults import KILL_AFTER_ACCEPT, kill_after_accept

_CALL_TWICE = (
    "import os\n"
    "from broker.devtools.chaos.faults import kill_after_accept\n"
    "hook = kill_after_accept(os.environ)\n"
    "hook(['a'])\n"
    "print('survived', flush=True)\n"
    "hook(['b'])\n"
    "print('unreachable', flush=True)\n"
)


def _run(marker: Path, *, armed: bool) -> subprocess.CompletedProcess[str]:
    if armed:
        marker.touch()
    return subprocess.run(
        [sys.executable, "-c", _CALL_TWICE],
        env={"PATH": "", KILL_AFTER_ACCEPT: str(marker)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unarmed_fault_lets_the_process_live(tmp_path: Path) -> None:
    result = _run(tmp_path / "armed", armed=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["survived", "unreachable"]


def test_armed_fault_sigkills_the_process_once_and_disarms(tmp_path: Path) -> None:
    marker = tmp_path / "armed"
    result = _run(marker, armed=True)
    assert result.returncode == -signal.SIGKILL
    assert result.stdout == ""
    assert "SIGKILL after accepting 1 deliveries" in result.stderr
    assert not marker.exists()


def test_fault_is_off_without_its_variable() -> None:
    assert kill_after_accept({"PATH": "/bin"}) is None
