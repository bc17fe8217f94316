"""Start, watch and stop a real Apache Kafka (KRaft) on 127.0.0.1 from the cached jars.

One combined broker+controller node, or a three-node cluster (replication factor
3, ``min.insync.replicas=2``), on free ports (:mod:`broker.local.ports`), small
heaps, logs to files (:mod:`broker.local.jvm`). The cluster is recorded in
``<state>/local-kafka.json`` (:mod:`broker.local.record`) so ``broker local down``
stops exactly the JVMs it started; configs (:mod:`broker.local.properties`), data
and logs live under ``<state>/local-kafka/node-<id>/``. With ``tls=True`` every
listener speaks mutual TLS with certificates from :class:`broker.local.tls.LocalCA`
and the ``StandardAuthorizer`` enforces ACLs (nothing allowed without one).

Example (not run here: it starts JVMs)::

    cluster = await LocalCluster.start(state_dir=Path("state"), nodes=3, cache_dir=cache)
    cluster.kill_node(2); cluster.restart_node(2)
    await cluster.stop()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from broker.errors import LocalKafkaError
from broker.local.jars import fetch_jars, find_java, kafka_version
from broker.local.jvm import format_storage, launch, log_tail, startup_error
from broker.local.ports import free_ports
from broker.local.properties import write_node_properties
from broker.local.record import ClusterRecord, NodeInfo, read_record, record_path, write_record
from broker.local.tls import ADMIN_PRINCIPAL, BROKER_PRINCIPAL, LocalCA
from broker.transport import KafkaConnection, TlsIdentity

__all__ = ["LocalCluster"]

_ROOT = "local-kafka"


def _cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of 16 random bytes, no padding; Kafka's
    # tooling avoids ids starting with '-' (they parse as options), so do we.
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _is_our_jvm(pid: int, directory: str) -> bool:
    """Return whether ``pid`` is a live (non-zombie) Kafka JVM of the node in ``directory``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    if cmdline == "":
        # The cmdline reads empty for a moment while the java launcher re-executes
        # itself; kernel threads have an empty cmdline too, so also ask for the name.
        return stat.partition("(")[2].rpartition(")")[0] == "java"
    return "kafka.Kafka" in cmdline and directory in cmdline


class LocalCluster:
    """A running local Kafka cluster and the handles to control its JVMs."""

    def __init__(self, *, record: ClusterRecord, java: str) -> None:
        self._rec = record
        self._java = java
        # Keep our children's Popen handles: they reap the JVMs and avoid ResourceWarnings.
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    # -- construction -------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        *,
        state_dir: Path,
        cache_dir: Path | None = None,
        nodes: int = 1,
        tls: bool = False,
        ready_timeout: float = 120.0,
    ) -> LocalCluster:
        """Fetch jars if needed, format storage, start ``nodes`` JVMs and wait until ready.

        ``cache_dir`` defaults to :attr:`Settings.cache_dir` (``BROKER_CACHE_DIR``).
        If anything fails or the caller is cancelled, every JVM started so far is
        stopped before the error propagates (data and logs are kept for diagnosis).
        """
        if nodes not in (1, 3):
            raise LocalKafkaError("a local cluster has 1 or 3 nodes", detail=f"asked for {nodes}")
        java = find_java()
        if cache_dir is None:
            from broker.config import Settings

            cache_dir = Settings().cache_dir
        libs = await asyncio.to_thread(fetch_jars, cache_dir=cache_dir)
        root = state_dir / _ROOT
        if read_record(state_dir) is not None:
            raise LocalKafkaError(
                "a local Kafka is already recorded in this home",
                detail=f"{record_path(state_dir)}: run `broker local down` first",
            )
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        ports = free_ports(2 * nodes)
        infos = [
            NodeInfo(
                node_id=i,
                client_port=ports[2 * i - 2],
                controller_port=ports[2 * i - 1],
                directory=str(root / f"node-{i}"),
            )
            for i in range(1, nodes + 1)
        ]
        bootstrap = ",".join(f"127.0.0.1:{n.client_port}" for n in infos)
        rec = ClusterRecord(
            version=kafka_version(),
            cluster_id=_cluster_id(),
            bootstrap=bootstrap,
            tls=tls,
            root=str(root),
            libs=str(libs),
            nodes=infos,
        )
        cluster = cls(record=rec, java=java)
        if tls:
            ca = LocalCA.create(directory=root / "tls")
            ca.issue(BROKER_PRINCIPAL, server=True)
            # Service principals now; each agency's certificate on its first connection
            # (agencies may join the federation after the cluster starts).
            for principal in (ADMIN_PRINCIPAL, "router", "auditor"):
                ca.issue(principal)
        for info in infos:
            write_node_properties(rec, info)
        await asyncio.gather(
            *(asyncio.to_thread(format_storage, java=java, record=rec, info=n) for n in infos)
        )
        try:
            # A static quorum needs a majority of controllers: launch all, then wait.
            for info in infos:
                cluster._launch(info)
            cluster._save()
            await cluster.wait_ready(ready_timeout=ready_timeout)
        except BaseException:
            # Never leave a JVM behind: not on a start-up error, not on Ctrl-C or cancel.
            cluster._stop_sync(keep_data=True)
            raise
        return cluster

    @classmethod
    def attach(cls, *, state_dir: Path) -> LocalCluster:
        """Return the cluster recorded under ``state_dir`` (raise if none)."""
        data = read_record(state_dir)
        if data is None:
            raise LocalKafkaError(
                "no local Kafka is recorded here", detail="run `broker local up` first"
            )
        nodes = [NodeInfo(**n) for n in data.pop("nodes")]
        return cls(record=ClusterRecord(**data, nodes=nodes), java=shutil.which("java") or "java")

    # -- properties ------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Comma-separated client addresses."""
        return self._rec.bootstrap

    @property
    def nodes(self) -> list[NodeInfo]:
        """The cluster's nodes."""
        return list(self._rec.nodes)

    @property
    def tls(self) -> bool:
        """Whether clients must use mutual TLS."""
        return self._rec.tls

    @property
    def root(self) -> Path:
        """The directory holding configs, data and logs."""
        return Path(self._rec.root)

    @property
    def record_file(self) -> Path:
        """The JSON record of this cluster (``<state>/local-kafka.json``)."""
        return record_path(self.root.parent)

    @property
    def version(self) -> str:
        """The Kafka version the cluster runs."""
        return self._rec.version

    def ca(self) -> LocalCA:
        """Return the local CA (TLS clusters only)."""
        if not self.tls:
            raise LocalKafkaError("this local Kafka runs without TLS")
        return LocalCA.load(directory=self.root / "tls")

    def identity(self, principal: str) -> TlsIdentity:
        """Return (issuing on first use) the client certificate of ``principal``."""
        ca = self.ca()
        ident = ca.identity(principal)
        if not ident.cert_file.exists():
            ident = ca.issue(principal)
        return ident

    def connection(self, principal: str = ADMIN_PRINCIPAL) -> KafkaConnection:
        """Return a connection as ``principal`` (the identity only matters under TLS)."""
        tls = self.identity(principal) if self.tls else None
        return KafkaConnection(bootstrap=self.bootstrap, tls=tls, client_id=principal)

    # -- JVM management ---------------------------------------------------------------------

    def _launch(self, info: NodeInfo) -> None:
        proc = launch(java=self._java, record=self._rec, info=info)
        info.pid = proc.pid
        self._procs[info.node_id] = proc

    def _save(self) -> None:
        write_record(self.record_file, self._rec)

    def _alive(self, info: NodeInfo) -> bool:
        if info.pid is None:
            return False
        proc = self._procs.get(info.node_id)
        if proc is not None and proc.pid == info.pid:
            return proc.poll() is None  # our child: poll() reaps it when it exits
        return _is_our_jvm(info.pid, info.directory)  # attached from a record: ask /proc

    async def wait_ready(self, *, ready_timeout: float = 120.0, nodes: int | None = None) -> None:
        """Wait until the cluster answers metadata with every (or ``nodes``) broker."""
        want = nodes if nodes is not None else len(self._rec.nodes)
        deadline = time.monotonic() + ready_timeout
        last: str = "no answer yet"
        while time.monotonic() < deadline:
            for info in self._rec.nodes:
                if info.pid is not None and not self._alive(info):
                    raise startup_error(info)
            try:
                seen = await self._count_brokers()
            except Exception as exc:  # noqa: BLE001 - any failure here means "not ready yet"
                last = f"{type(exc).__name__}: {exc}"
                seen = 0
            if seen >= want:
                return
            await asyncio.sleep(0.5)
        raise LocalKafkaError(
            f"Kafka did not become ready within {ready_timeout:.0f}s (logs under {self.root})",
            detail=f"last check: {last}\n" + log_tail(self._rec.nodes[0]),
        )

    async def _count_brokers(self) -> int:
        from aiokafka.admin import AIOKafkaAdminClient

        # Connection refusals are expected while the JVM starts: keep aiokafka quiet.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

        admin = AIOKafkaAdminClient(**self.connection().client_kwargs(), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 10)
            info = await asyncio.wait_for(admin.describe_cluster(), 10)
            return len(info.get("brokers", []))
        finally:
            await admin.close()

    def _signal(self, info: NodeInfo, sig: signal.Signals) -> None:
        if info.pid is not None and self._alive(info):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, sig)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node (fault injection)."""
        info = self._node(node_id)
        self._signal(info, signal.SIGKILL)
        self._wait_gone(info, 10)

    def pause_node(self, node_id: int) -> None:
        """SIGSTOP one node."""
        self._signal(self._node(node_id), signal.SIGSTOP)

    def resume_node(self, node_id: int) -> None:
        """SIGCONT one node."""
        self._signal(self._node(node_id), signal.SIGCONT)

    def restart_node(self, node_id: int) -> None:
        """Start a stopped node again with its existing data."""
        info = self._node(node_id)
        if self._alive(info):
            raise LocalKafkaError(f"node {node_id} is still running")
        self._launch(info)
        self._save()

    def _node(self, node_id: int) -> NodeInfo:
        for info in self._rec.nodes:
            if info.node_id == node_id:
                return info
        raise LocalKafkaError(f"no node {node_id} in this cluster")

    def _wait_gone(self, info: NodeInfo, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(info):
                return True
            time.sleep(0.1)
        return False

    def running_pids(self) -> list[int]:
        """Return the pids of this cluster's JVMs that are still running."""
        return [n.pid for n in self._rec.nodes if n.pid is not None and self._alive(n)]

    async def stop(self, *, keep_data: bool = False) -> None:
        """Stop every JVM of this cluster (SIGTERM, then SIGKILL) and forget the record."""
        await asyncio.to_thread(functools.partial(self._stop_sync, keep_data=keep_data))

    def _stop_sync(self, *, keep_data: bool) -> None:
        for info in self._rec.nodes:
            self._signal(info, signal.SIGCONT)  # a paused JVM cannot handle SIGTERM
            self._signal(info, signal.SIGTERM)
        for info in self._rec.nodes:
            if not self._wait_gone(info, 30):
                self._signal(info, signal.SIGKILL)
                self._wait_gone(info, 10)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)  # reap our children
        self.record_file.unlink(missing_ok=True)
        if not keep_data:
            shutil.rmtree(self.root, ignore_errors=True)
