"""Free TCP ports on 127.0.0.1: the local cluster's listeners, chosen so none is taken twice.

Example::

    >>> ports = free_ports(3)
    >>> len(set(ports)), all(1024 <= p < 65536 for p in ports)
    (3, True)
"""

from __future__ import annotations

import contextlib
import socket

__all__ = ["free_port", "free_ports"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago.

    All sockets stay bound until every port is chosen, so no port is handed out
    twice; another process may still take one before the JVM binds it, which
    start-up then reports as a port clash.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
