"""The Kafka JVMs' command lines: format a node's storage, launch it, and say why it died.

Each JVM runs in its own session (process group) so it can be signalled on its
own, with a small heap, its output appended to ``<node>/logs/stdout.log`` and
its server log in ``<node>/logs/server.log``.

Example (not run here: it starts a JVM)::

    format_storage(java="java", record=rec, info=node)
    proc = launch(java="java", record=rec, info=node)
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from broker.errors import LocalKafkaError
from broker.local.record import ClusterRecord, NodeInfo

__all__ = ["format_storage", "launch", "log_tail", "startup_error"]


def _jvm_base(*, java: str, record: ClusterRecord, info: NodeInfo) -> list[str]:
    d = Path(info.directory)
    return [
        java,
        f"-Dlog4j2.configurationFile={d / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={d / 'logs'}",
        "-cp",
        f"{record.libs}/*",
    ]


def format_storage(*, java: str, record: ClusterRecord, info: NodeInfo) -> None:
    """Format ``info``'s KRaft storage for the cluster id in ``record`` (raise on failure)."""
    d = Path(info.directory)
    # A short-lived tool: C1-only JIT and the serial GC halve its CPU time.
    java, *rest = _jvm_base(java=java, record=record, info=info)
    argv = [java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", *rest]
    argv += ["kafka.tools.StorageTool", "format"]
    argv += ["-t", record.cluster_id, "-c", str(d / "server.properties")]
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, timeout=180, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError("cannot format Kafka storage", detail=str(exc)) from exc
    if result.returncode != 0:
        raise LocalKafkaError(
            f"formatting Kafka storage failed for node {info.node_id}",
            detail=(result.stdout + result.stderr)[-2000:],
        )


def launch(*, java: str, record: ClusterRecord, info: NodeInfo) -> subprocess.Popen[bytes]:
    """Start ``info``'s Kafka JVM in a session of its own; return its process handle."""
    heap = "-Xmx512m" if len(record.nodes) == 1 else "-Xmx384m"
    argv = [
        java,
        "-Xms128m",
        heap,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        *_jvm_base(java=java, record=record, info=info)[1:],
        "kafka.Kafka",
        str(Path(info.directory) / "server.properties"),
    ]
    with info.stdout_file.open("ab") as out:
        try:
            return subprocess.Popen(  # noqa: S603 - fixed argv
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            raise LocalKafkaError(
                f"cannot start the Kafka JVM for node {info.node_id}", detail=str(exc)
            ) from exc


def log_tail(info: NodeInfo, lines: int = 25) -> str:
    """Return the last error lines (else the last lines) of ``info``'s logs."""
    for f in (info.log_file, info.stdout_file):
        with contextlib.suppress(OSError):
            text = f.read_text(errors="replace").splitlines()
            errors = [ln for ln in text if " ERROR " in ln or "Exception" in ln]
            chosen = (errors or text)[-lines:]
            if chosen:
                return f"{f}:\n" + "\n".join(chosen)
    return f"(no log yet in {info.log_file.parent})"


def startup_error(info: NodeInfo) -> LocalKafkaError:
    """Return the error for a node that exited during start-up (a port clash, or its log)."""
    tail = log_tail(info)
    if "Address already in use" in tail or "BindException" in tail:
        ports = f"{info.client_port} or {info.controller_port}"
        cause = f"port clash: another process took port {ports} on 127.0.0.1"
    else:
        cause = "exited during start-up"
    return LocalKafkaError(f"Kafka node {info.node_id} {cause} (log: {info.log_file})", detail=tail)
