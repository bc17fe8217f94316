"""The record of a started local cluster (``<state>/local-kafka.json``), so it can be stopped later.

The record keeps each JVM's pid, ports and directory, the bootstrap addresses
and the Kafka version: ``broker local down`` (another process) stops exactly the
JVMs that ``broker local up`` started, and clients find the bootstrap there.

Example::

    >>> import tempfile, pathlib
    >>> state = pathlib.Path(tempfile.mkdtemp())
    >>> read_record(state) is None
    True
    >>> node = NodeInfo(node_id=1, client_port=9092, controller_port=9093, directory="n1")
    >>> rec = ClusterRecord(version="4.0.0", cluster_id="x", bootstrap="127.0.0.1:9092",
    ...                     tls=False, root=str(state / "local-kafka"), libs="libs", nodes=[node])
    >>> write_record(record_path(state), rec)
    >>> read_record(state)["bootstrap"]
    '127.0.0.1:9092'
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from broker.errors import LocalKafkaError

__all__ = ["ClusterRecord", "NodeInfo", "read_record", "record_path", "write_record"]

_RECORD = "local-kafka.json"


@dataclass
class NodeInfo:
    """One JVM of the cluster."""

    node_id: int
    client_port: int
    controller_port: int
    directory: str
    pid: int | None = None

    @property
    def log_file(self) -> Path:
        """The node's server log."""
        return Path(self.directory) / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        """The JVM's captured stdout/stderr."""
        return Path(self.directory) / "logs" / "stdout.log"


@dataclass
class ClusterRecord:
    """Everything ``<state>/local-kafka.json`` holds about one local cluster."""

    version: str
    cluster_id: str
    bootstrap: str
    tls: bool
    root: str
    libs: str
    nodes: list[NodeInfo] = field(default_factory=list)


def record_path(state_dir: Path) -> Path:
    """Return where the local cluster under ``state_dir`` is recorded."""
    return state_dir / _RECORD


def read_record(state_dir: Path) -> dict[str, Any] | None:
    """Return the recorded local cluster (``None`` if none is recorded)."""
    path = record_path(state_dir)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LocalKafkaError("unreadable local Kafka record", detail=str(path)) from exc
    return data


def write_record(path: Path, record: ClusterRecord) -> None:
    """Write ``record`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    tmp.replace(path)
