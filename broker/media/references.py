"""The output of ``broker media hash``: one media reference per line (JSON Lines).

Each line is a JSON object: the fields of the Avro record ``eu.fed.MediaReference``
(:class:`broker.models.MediaReference`, validated) plus three keys that stay with
the seizure and are not part of the record (:data:`LOCAL_KEYS`): ``path`` (relative
to the hashed folder, ``/`` separators), ``size`` (bytes) and
``perceptual_low_quality`` (derived: a PDQ hash of quality below 50). Hashed
files are not graded, so ``category`` is :data:`UNCLASSIFIED`. docs/media.md
describes every key.

:class:`ReferenceWriter` writes to stdout or, atomically, to a file (a temporary
file renamed into place only when the run completes); :func:`read_references`
reads a file back as :class:`~broker.models.MediaReference` objects.

Example::

    >>> from broker.media.hashing import FileHash, Outcome
    >>> f = FileHash(path="a.bin", outcome=Outcome.NOT_IMAGE, size=3, sha256="0" * 64,
    ...              md5="1" * 32)
    >>> json_line(f, media_reference(f, device_ref="D1"))[:41]
    '{"path": "a.bin", "size": 3, "sha256": "0'
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from broker.errors import ConfigError
from broker.media.hashing import PDQ_ALGORITHM, FileHash
from broker.models import MediaReference

__all__ = [
    "LOCAL_KEYS",
    "UNCLASSIFIED",
    "ReferenceWriter",
    "json_line",
    "media_reference",
    "read_references",
]

#: ``category`` of a hashed file: nobody has graded it yet.
UNCLASSIFIED = "UNCLASSIFIED"
#: Keys of a line that belong to the seizure, not to the ``MediaReference`` record.
LOCAL_KEYS = ("path", "size", "perceptual_low_quality")


def media_reference(file: FileHash, *, device_ref: str | None) -> MediaReference:
    """Return the validated reference of a hashed file."""
    if file.sha256 is None:
        raise ValueError(f"{file.path} was not hashed ({file.outcome.value})")
    return MediaReference(
        sha256=file.sha256,
        md5=file.md5,
        perceptual_hash=file.pdq,
        perceptual_algorithm=PDQ_ALGORITHM if file.pdq is not None else None,
        perceptual_quality=file.pdq_quality,
        category=UNCLASSIFIED,
        device_ref=device_ref,
    )


def json_line(file: FileHash, reference: MediaReference) -> str:
    """Return one output line (no newline): local keys, then the record's fields."""
    return json.dumps(
        {
            "path": file.path,
            "size": file.size,
            **reference.model_dump(mode="json"),
            "perceptual_low_quality": reference.perceptual_low_quality,
        }
    )


class ReferenceWriter:
    """Write lines to ``path`` (atomically, on a clean exit) or to stdout when ``path`` is None."""

    def __init__(self, *, path: Path | None) -> None:
        self.path = path
        self.lines = 0
        self._tmp: Path | None = None
        self._out: IO[str] | None = None

    def __enter__(self) -> ReferenceWriter:
        if self.path is None:
            self._out = sys.stdout
            return self
        try:
            fd, name = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise ConfigError(f"cannot write {self.path}", detail=str(exc)) from exc
        self._tmp = Path(name)
        self._out = os.fdopen(fd, "w", encoding="utf-8")  # closed in __exit__
        return self

    def write(self, file: FileHash, reference: MediaReference) -> None:
        """Write the line of one hashed file."""
        assert self._out is not None, "use ReferenceWriter in a with block"  # noqa: S101
        self._out.write(json_line(file, reference) + "\n")
        self.lines += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tmp is None or self._out is None or self.path is None:
            if self._out is not None:
                self._out.flush()
            return
        try:
            if exc_type is None:
                self._out.flush()
                os.fsync(self._out.fileno())
        finally:
            self._out.close()
            if exc_type is None:
                self._tmp.replace(self.path)
            else:
                self._tmp.unlink(missing_ok=True)


def read_references(path: Path) -> Iterator[MediaReference]:
    """Yield the references of a ``broker media hash`` output file, validated."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                for key in LOCAL_KEYS:
                    record.pop(key, None)
                yield MediaReference.model_validate(record)
