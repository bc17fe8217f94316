"""Length-framed, type-tagged byte strings: what every signature and KDF input is built from.

``frame(tag, f1, f2, ...)`` = ``u32(len(tag)) || tag || u32(n) || (u64(len(fi)) || fi)...``
(big-endian). Like DSSE's PAE it makes the signed message unambiguous: no two
different field lists frame to the same bytes, and the tag separates domains.

Example::

    >>> frame("t", b"ab").hex()
    '00000001740000000100000000000000026162'
"""

from __future__ import annotations

import struct

__all__ = ["frame"]


def frame(tag: str, *fields: bytes) -> bytes:
    """Return the framed encoding of ``tag`` and ``fields``."""
    t = tag.encode("utf-8")
    parts = [struct.pack(">I", len(t)), t, struct.pack(">I", len(fields))]
    for f in fields:
        parts.append(struct.pack(">Q", len(f)))
        parts.append(bytes(f))
    return b"".join(parts)
