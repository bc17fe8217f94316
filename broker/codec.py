"""The Avro codec: every payload is Avro single-object encoded.

Wire form (Avro 1.11 specification, "Single object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | Avro binary

The fingerprint is computed over the schema's Parsing Canonical Form, so a reader
always knows exactly which schema wrote the bytes. The current schemas live in
``schemas/`` (one named type per file, ``<namespace>.<Name>.avsc``, so fastavro
resolves references across files); every published version of a top-level
schema is kept under ``schemas/published/<full name>/<fingerprint hex>.avsc`` (fully
expanded), and a reader resolves an old writer schema by its fingerprint
(Avro schema resolution into the current reader schema).

Example::

    >>> from broker.codec import SchemaStore
    >>> store = SchemaStore.default()
    >>> data = store.encode("eu.fed.Evaluation", {"source": "B", "information": "I2"})
    >>> data[:2].hex(), len(store.fingerprint("eu.fed.Evaluation"))
    ('c301', 8)
    >>> store.decode("eu.fed.Evaluation", data)
    {'source': 'B', 'information': 'I2'}
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _fingerprint
from fastavro.schema import load_schema, parse_schema, to_parsing_canonical_form

from broker.errors import SchemaError

__all__ = ["MAGIC", "SchemaStore", "schemas_dir"]

#: Avro single-object encoding marker.
MAGIC = b"\xc3\x01"
_HEADER_LEN = len(MAGIC) + 8


def schemas_dir() -> Path:
    """Return the directory holding the ``.avsc`` files (repo checkout or installed wheel)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir.parent / "schemas", package_dir / "_schemas"):
        if candidate.is_dir():
            return candidate
    raise SchemaError("schema directory not found", detail=f"looked beside {package_dir}")


class SchemaStore:
    """Parsed schemas by full name, and every known writer schema by fingerprint."""

    def __init__(self, *, directory: Path) -> None:
        self._dir = directory
        self._current: dict[str, Any] = {}
        self._fingerprints: dict[str, bytes] = {}
        self._writers: dict[bytes, Any] = {}
        self._history: dict[str, set[bytes]] = {}
        try:
            for path in sorted(directory.glob("*.avsc")):
                name = path.name.removesuffix(".avsc")
                # A fresh namespace per file so each parsed schema is self-contained
                # (referenced types expanded), which its fingerprint must cover.
                parsed = load_schema(str(path), named_schemas={})
                self._add_current(name, parsed)
            published = directory / "published"
            for path in sorted(published.glob("*/*.avsc")) if published.is_dir() else []:
                parsed = parse_schema(json.loads(path.read_text()), named_schemas={})
                fp = self._compute_fingerprint(parsed)
                if fp.hex() != path.stem:
                    raise SchemaError(
                        "published schema does not match its fingerprint", detail=str(path)
                    )
                self._writers.setdefault(fp, parsed)
                self._history.setdefault(path.parent.name, set()).add(fp)
        except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
            raise SchemaError("cannot load Avro schemas", detail=str(directory)) from exc

    @classmethod
    @functools.cache
    def default(cls) -> SchemaStore:
        """Return the process-wide store over the package's schema directory."""
        return cls(directory=schemas_dir())

    @staticmethod
    def _compute_fingerprint(parsed: Any) -> bytes:
        return bytes.fromhex(_fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))

    def _add_current(self, name: str, parsed: Any) -> None:
        fp = self._compute_fingerprint(parsed)
        self._current[name] = parsed
        self._fingerprints[name] = fp
        self._writers[fp] = parsed

    @property
    def names(self) -> list[str]:
        """Full names of every current schema."""
        return sorted(self._current)

    def schema(self, name: str) -> Any:
        """Return the parsed current schema ``name`` (e.g. ``"eu.fed.Dossier"``)."""
        try:
            return self._current[name]
        except KeyError:
            raise SchemaError(f"unknown schema {name!r}") from None

    def fingerprint(self, name: str) -> bytes:
        """Return the 8-byte CRC-64-AVRO fingerprint of the current schema ``name``."""
        self.schema(name)
        return self._fingerprints[name]

    def canonical_form(self, name: str) -> str:
        """Return the Parsing Canonical Form of the current schema ``name``."""
        return str(to_parsing_canonical_form(self.schema(name)))

    def writer_schema(self, fingerprint: bytes) -> Any:
        """Return the (current or published) schema with this fingerprint."""
        try:
            return self._writers[bytes(fingerprint)]
        except KeyError:
            raise SchemaError(
                "unknown writer schema fingerprint", detail=fingerprint.hex()
            ) from None

    def writers_for(self, name: str) -> list[tuple[bytes, Any]]:
        """Return ``(fingerprint, schema)`` of the current and every published version."""
        fps = {self.fingerprint(name)} | self._history.get(name, set())
        return [(fp, self._writers[fp]) for fp in sorted(fps)]

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode ``record`` with the current schema ``name`` in single-object form."""
        schema = self.schema(name)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(self._fingerprints[name])
        try:
            fastavro.schemaless_writer(out, schema, record, strict=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SchemaError(f"cannot encode {name}", detail=str(exc)) from exc
        return out.getvalue()

    @staticmethod
    def split(data: bytes) -> tuple[bytes, memoryview]:
        """Return ``(fingerprint, body)`` of a single-object encoded value."""
        if len(data) < _HEADER_LEN or data[:2] != MAGIC:
            raise SchemaError("not an Avro single-object encoding")
        view = memoryview(data)
        return bytes(view[2:_HEADER_LEN]), view[_HEADER_LEN:]

    def decode(self, name: str, data: bytes) -> dict[str, Any]:
        """Decode single-object ``data`` into the current schema ``name``.

        The writer schema is found by fingerprint; an older published version is
        resolved into the current reader schema. Trailing bytes are an error.
        """
        fp, body = self.split(data)
        writer = self.writer_schema(fp)
        reader = self.schema(name)
        stream = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(
                stream, writer, None if writer is reader else reader
            )
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            EOFError,
            OverflowError,
            UnicodeDecodeError,
            fastavro.read.SchemaResolutionError,
        ) as exc:
            raise SchemaError(f"cannot decode {name}", detail=type(exc).__name__) from exc
        if stream.tell() != len(body):
            raise SchemaError(f"trailing bytes after {name}")
        if not isinstance(record, dict):
            raise SchemaError(f"{name} is not a record")
        return record
