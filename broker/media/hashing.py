"""Hash one file: SHA-256 and MD5 streamed in fixed-size chunks, and PDQ for images.

:func:`hash_file` opens the file without following a symlink (``O_NOFOLLOW``, then
``fstat`` must show a regular file, so a path swapped for a link or a FIFO after the
walk is refused, never followed or blocked on), reads it in chunks of
:attr:`HashOptions.chunk_size` into one reused buffer, and feeds both digests: memory
does not grow with the file. It then tries to decode the file as an image in one of
:data:`IMAGE_FORMATS` (from the buffer when the whole file fit in one chunk, else
from the start of the file again). A decoded image gets a PDQ hash (Meta's 256-bit
perceptual hash, through the ``pdqhash`` bindings of the reference C++ code) of its
first frame at full resolution, converted to RGB (alpha dropped, EXIF orientation
not applied), as Meta's Python hasher (pytx, used by HMA) computes it, with its
quality score 0-100. :attr:`HashOptions.pdq_downscale` trades a few bits of that
agreement for speed on large photos.

An image over :attr:`HashOptions.max_pixels` (Pillow's own decompression-bomb
limit by default) is not decoded. Nothing a file contains can stop the run: each
outcome is an :class:`Outcome` on the returned :class:`FileHash`.

Example::

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "note.txt").write_bytes(b"abc")
    ...     h = hash_file(tmp, "note.txt")
    >>> h.outcome.value, h.sha256[:16], h.md5
    ('not-image', 'ba7816bf8f01cfea', '900150983cd24fb0d6963f7d28e17f72')
"""

from __future__ import annotations

import enum
import hashlib
import io
import os
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pdqhash
from PIL import Image

__all__ = [
    "CHUNK_SIZE",
    "IMAGE_FORMATS",
    "MAX_PIXELS",
    "PDQ_ALGORITHM",
    "PDQ_DOWNSCALE_SIDE",
    "FileHash",
    "HashOptions",
    "Outcome",
    "hash_batch",
    "hash_file",
    "pdq_distance",
    "pdq_hash",
]

#: Bytes read at a time (and the largest file decoded from memory without a second read).
CHUNK_SIZE = 1 << 20
#: Largest image decoded (width x height): Pillow's default ``MAX_IMAGE_PIXELS``.
MAX_PIXELS = 89_478_485
#: Pillow formats tried, in order: those of photos and pictures on seized devices that
#: this Pillow build can open. A closed list, so that a random binary file is not taken
#: for an exotic format with a weak signature. (HEIC needs a plugin Pillow lacks.)
Image.init()
IMAGE_FORMATS = tuple(
    f for f in ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP") if f in Image.OPEN
)
#: ``perceptual_algorithm`` of the hashes computed here.
PDQ_ALGORITHM = "PDQ"
#: Side of the square larger images are resized to with ``pdq_downscale``.
PDQ_DOWNSCALE_SIDE = 512

# Open for reading without following a final symlink and without blocking on a FIFO;
# flags the platform lacks count as 0.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class Outcome(enum.StrEnum):
    """What hashing one file gave."""

    IMAGE = "image"  # digests and a PDQ hash
    NOT_IMAGE = "not-image"  # digests only: no listed image format recognised the file
    BROKEN_IMAGE = "broken-image"  # digests only: an image format, but it did not decode
    OVERSIZED_IMAGE = "oversized-image"  # digests only: more pixels than max_pixels
    UNREADABLE = "unreadable"  # nothing: the file could not be opened or read


@dataclass(frozen=True, slots=True, kw_only=True)
class HashOptions:
    """How files are read and decoded."""

    chunk_size: int = CHUNK_SIZE
    max_pixels: int = MAX_PIXELS
    #: Hash images larger than 512 px on a side at 512 x 512, as Meta's C++
    #: ``pdq-photo-hasher`` does: much faster on camera photos, but the hash then
    #: differs from the full-resolution one (what pytx / HMA compute) by a few bits.
    pdq_downscale: bool = False

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.max_pixels < 1:
            raise ValueError("chunk_size and max_pixels must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileHash:
    """The digests of one file (``path`` relative to the folder, ``/`` separators)."""

    path: str
    outcome: Outcome
    size: int = 0
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    detail: str | None = None


def pdq_hash(image: Image.Image) -> tuple[str, int]:
    """Return the PDQ hash of ``image`` as 64 hex digits, and its quality (0-100).

    The hex form is Meta's: bit 255 first, as ``Hash256::format`` prints it.
    """
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    bits, quality = pdqhash.compute(rgb)
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def pdq_distance(a: str, b: str) -> int:
    """Return the Hamming distance of two hex PDQ hashes (a match is <= 31)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _image(source: BinaryIO, options: HashOptions) -> tuple[Outcome, str | None, int | None, str]:
    """Try to decode ``source``; return (outcome, pdq hex, quality, detail)."""
    with warnings.catch_warnings():
        # Decoders warn about odd but harmless files (palette transparency, EXIF);
        # a decompression bomb is the one warning that must stop the decode.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(source, formats=IMAGE_FORMATS)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            return Outcome.OVERSIZED_IMAGE, None, None, str(exc)
        except Exception:  # noqa: BLE001 - any header a decoder rejects means "not an image"
            # A prefix matched (text starting "BM" looks like BMP) but the header did not
            # parse: not a picture. Only a parsed header makes a failed decode a broken image.
            return Outcome.NOT_IMAGE, None, None, ""
        try:
            with opened as image:
                width, height = image.size
                if width * height > options.max_pixels:
                    return Outcome.OVERSIZED_IMAGE, None, None, f"{width}x{height} pixels"
                fmt = image.format or ""
                if options.pdq_downscale and max(width, height) > PDQ_DOWNSCALE_SIDE:
                    side = PDQ_DOWNSCALE_SIDE
                    image.draft("RGB", (side, side))  # JPEG decodes at 1/2, 1/4 or 1/8 scale
                    digest, quality = pdq_hash(image.resize((side, side), Image.Resampling.BOX))
                else:
                    image.load()
                    digest, quality = pdq_hash(image)
                return Outcome.IMAGE, digest, quality, fmt
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            return Outcome.OVERSIZED_IMAGE, None, None, str(exc)
        except Exception as exc:  # noqa: BLE001 - see below
            # Decoders fed hostile or damaged files raise OSError, SyntaxError,
            # ValueError, struct.error, EOFError, MemoryError, ...: whatever a file
            # holds, it is counted as a broken image and the run goes on.
            return Outcome.BROKEN_IMAGE, None, None, f"{type(exc).__name__}: {exc}"


def hash_file(root: str, path: str, options: HashOptions | None = None) -> FileHash:
    """Hash ``root/path``; never raise for anything the file is or holds."""
    options = options or HashOptions()
    try:
        fd = os.open(Path(root, path), _OPEN_FLAGS)
    except OSError as exc:
        return FileHash(path=path, outcome=Outcome.UNREADABLE, detail=exc.strerror or str(exc))
    with os.fdopen(fd, "rb") as file:
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                return FileHash(path=path, outcome=Outcome.UNREADABLE, detail="not a regular file")
            sha256 = hashlib.sha256()
            md5 = hashlib.md5(usedforsecurity=False)  # legacy hash sets; never matched alone
            buffer = bytearray(options.chunk_size)
            view = memoryview(buffer)
            size = reads = 0
            while n := file.readinto(buffer):
                sha256.update(view[:n])
                md5.update(view[:n])
                size += n
                reads += 1
            if reads <= 1:  # the whole file is still in the buffer: decode from memory
                source: BinaryIO = io.BytesIO(view[:size])
            else:
                file.seek(0)
                source = file
            outcome, pdq, quality, detail = _image(source, options)
        except OSError as exc:
            return FileHash(path=path, outcome=Outcome.UNREADABLE, detail=exc.strerror or str(exc))
    return FileHash(
        path=path,
        outcome=outcome,
        size=size,
        sha256=sha256.hexdigest(),
        md5=md5.hexdigest(),
        pdq=pdq,
        pdq_quality=quality,
        detail=detail or None,
    )


def hash_batch(paths: Sequence[str], *, root: str, options: HashOptions) -> list[FileHash]:
    """Hash several files of one folder (the unit of work a worker process gets)."""
    return [hash_file(root, path, options) for path in paths]
