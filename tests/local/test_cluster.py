"""LocalCluster pieces that need no JVM, plus start-up failures that must never hang."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from broker.config import Settings
from broker.connect import resolve_bootstrap
from broker.errors import ConfigError, LocalKafkaError
from broker.local import LocalCluster
from broker.local import cluster as cluster_mod
from broker.local import ports as ports_mod


def test_cluster_ids_are_kafka_uuids_that_never_start_with_a_dash() -> None:
    for _ in range(2_000):
        cid = cluster_mod._cluster_id()
        assert not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_free_ports_are_distinct_and_bindable_on_loopback() -> None:
    ports = ports_mod.free_ports(6)
    assert len(set(ports)) == 6
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_pid_that_is_not_our_kafka_is_never_taken_for_it(tmp_path: Path) -> None:
    assert not cluster_mod._is_our_jvm(os.getpid(), str(tmp_path))  # this python
    assert not cluster_mod._is_our_jvm(2, str(tmp_path))  # kthreadd: empty cmdline
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not cluster_mod._is_our_jvm(proc.pid, str(tmp_path))  # gone


def test_resolve_bootstrap_prefers_the_environment(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap="10.0.0.1:9092")
    assert resolve_bootstrap(settings) == "10.0.0.1:9092"


def test_resolve_bootstrap_reads_the_local_record(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=None)
    settings.state_dir.mkdir()
    record = {"bootstrap": "127.0.0.1:40001", "nodes": []}
    (settings.state_dir / "local-kafka.json").write_text(json.dumps(record))
    assert resolve_bootstrap(settings) == "127.0.0.1:40001"


def test_resolve_bootstrap_without_kafka_says_run_local_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_bootstrap(Settings(home=tmp_path, kafka_bootstrap=None))
    assert "broker local up" in (info.value.detail or "")


async def test_only_one_or_three_nodes(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="1 or 3 nodes"):
        await LocalCluster.start(state_dir=tmp_path, nodes=2)


@pytest.mark.kafka
async def test_port_clash_is_reported_with_the_log_and_leaves_no_jvm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real = ports_mod.free_ports
        monkeypatch.setattr(cluster_mod, "free_ports", lambda n: [taken, *real(n - 1)])
        with pytest.raises(LocalKafkaError, match="port clash") as info:
            await LocalCluster.start(state_dir=tmp_path, nodes=1, ready_timeout=120)
    err = info.value
    log = tmp_path / "local-kafka" / "node-1" / "logs" / "server.log"
    assert str(log) in err.message
    assert str(taken) in err.message
    assert "Address already in use" in (err.detail or "")
    # Nothing recorded, nothing running: the failed start cleaned up after itself.
    assert not (tmp_path / "local-kafka.json").exists()
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert not any(cluster_mod._is_our_jvm(pid, str(tmp_path)) for pid in pids)
