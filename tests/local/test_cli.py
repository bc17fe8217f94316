"""The `broker local` commands: start, status, stop, and clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker.local import kafka_version

BROKER = [sys.executable, "-m", "broker"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BROKER, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.kafka
def test_up_status_down_leaves_no_java_behind(tmp_path: Path) -> None:
    home = str(tmp_path)
    up = _run("local", "up", "--home", home)
    assert up.returncode == 0, up.stderr
    try:
        status = _run("local", "status", "--json", "--home", home)
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        pids = [n["pid"] for n in info["nodes"]]
        assert info["running"] and all(_alive(p) for p in pids)
        assert info["kafka_version"] == kafka_version()
        record = json.loads((tmp_path / "state" / "local-kafka.json").read_text())
        assert record["bootstrap"] == info["bootstrap"]
        assert [n["pid"] for n in record["nodes"]] == pids
        assert all(n["client_port"] and n["controller_port"] for n in record["nodes"])
        again = _run("local", "up", "--home", home)
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        down = _run("local", "down", "--home", home)
    assert down.returncode == 0, down.stderr
    assert not any(_alive(p) for p in pids)
    assert not (tmp_path / "state" / "local-kafka").exists()
    assert not (tmp_path / "state" / "local-kafka.json").exists()
    assert _run("local", "status", "--home", home).returncode == 1


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))  # no java, no mvn
    result = subprocess.run(
        [sys.executable, "-m", "broker", "local", "up", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "java not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_maven_is_a_clear_error(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # java, but no mvn, and an empty jar cache
    bin_dir.mkdir()
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java on this machine")
    (bin_dir / "java").symlink_to(java)
    env = dict(os.environ, PATH=str(bin_dir), BROKER_CACHE_DIR=str(tmp_path / "cache"))
    result = _run("local", "fetch", "--home", str(tmp_path), env=env)
    assert result.returncode == 2
    assert "mvn (Apache Maven) not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_without_a_cluster_says_so(tmp_path: Path) -> None:
    result = _run("local", "status", "--home", str(tmp_path))
    assert result.returncode == 1
    assert "no local Kafka recorded" in result.stdout


def _jvms_under(path: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"java" in cmdline and str(path).encode() in cmdline and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


@pytest.mark.kafka
def test_sigterm_to_a_bench_stops_the_kafka_it_started(tmp_path: Path) -> None:
    """A bench (or demo, or chaos run) killed with SIGTERM unwinds and stops its JVM."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    log = tmp_path / "bench.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*BROKER, "bench", "--quick"], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while not _jvms_under(tmp_path) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        assert _jvms_under(tmp_path), "the bench never started its Kafka"
        proc.terminate()
        assert proc.wait(timeout=60) == 128 + 15
        deadline = time.monotonic() + 30
        while _jvms_under(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _jvms_under(tmp_path) == []
    finally:
        proc.kill()
        for pid in _jvms_under(tmp_path):
            os.kill(pid, 9)
