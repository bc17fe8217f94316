"""Generated images for tests, benchmarks and the demo: shapes and noise, never real material.

:func:`synthetic_image` draws a deterministic picture from a seed: a smooth random
background (a coarse random grid, upscaled), a few random ellipses, rectangles
and polygons, and fine noise. Different seeds give unrelated pictures (PDQ
distance about 128). :func:`near_duplicates` derives the edits a copy of a
picture typically goes through (resized, re-compressed as JPEG, cropped at the
edges), which PDQ should still match. :func:`write_images` fills a folder with
many such files over several processes, fast enough for a demo seizure of tens of
thousands.

Example::

    >>> a = synthetic_image(1, size=64)
    >>> a.size, a.mode, a.tobytes() == synthetic_image(1, size=64).tobytes()
    ((64, 64), 'RGB', True)
    >>> sorted(near_duplicates(a))
    ['cropped', 'recompressed', 'resized']
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from broker.media.pool import ordered_map

__all__ = ["near_duplicates", "synthetic_image", "write_images"]

_SHAPES = 12


def synthetic_image(seed: int, *, size: int = 256) -> Image.Image:
    """Return a ``size`` x ``size`` RGB picture determined by ``seed``."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    # Every shape's parameters in one draw (one call, not dozens: this runs 20,000 times
    # for a demo seizure): kind, colour, then five points (a box uses the first two).
    for row in rng.integers(0, 1 << 16, (_SHAPES, 14)).tolist():
        kind, colour = row[0] % 3, (row[1] % 256, row[2] % 256, row[3] % 256)
        points = [(row[i] % size, row[i + 1] % size) for i in range(4, 14, 2)]
        if kind == 2:
            draw.polygon(points, fill=colour)
            continue
        (x0, y0), (x1, y1) = points[0], points[1]
        box = (min(x0, x1), min(y0, y1), max(x0, x1) + 1, max(y0, y1) + 1)
        (draw.ellipse if kind == 0 else draw.rectangle)(box, fill=colour)
    grain = rng.integers(-3, 4, (size, size, 3), dtype=np.int16)  # sensor-like grain
    pixels = np.clip(np.asarray(image, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        return decoded.copy()


def near_duplicates(image: Image.Image) -> dict[str, Image.Image]:
    """Return edited copies of ``image``: resized to 60 %, JPEG quality 30, 1 % cropped.

    1 % off each edge: PDQ is not made for crops, and 2 % already lands around the
    match threshold on these pictures (docs/media.md has the measured distances).
    """
    width, height = image.size
    dx, dy = max(1, width // 100), max(1, height // 100)
    return {
        "resized": image.resize((width * 3 // 5, height * 3 // 5), Image.Resampling.LANCZOS),
        "recompressed": _jpeg(image, 30),
        "cropped": image.crop((dx, dy, width - dx, height - dy)),
    }


def _path(directory: Path, n: int, per_folder: int) -> Path:
    return directory / "DCIM" / f"{n // per_folder:04d}" / f"IMG_{n:06d}.jpg"


def _write_range(numbers: range, *, directory: Path, size: int, seed: int, per_folder: int) -> None:
    for n in numbers:
        path = _path(directory, n, per_folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(seed * 1_000_003 + n, size=size).save(path, "JPEG", quality=85)


def write_images(
    directory: Path,
    *,
    count: int,
    size: int = 128,
    seed: int = 0,
    per_folder: int = 1000,
    workers: int = 1,
) -> list[Path]:
    """Write ``count`` JPEG pictures under ``directory/DCIM/`` (folders of ``per_folder``).

    The same arguments give the same files, whatever ``workers`` (processes) is.
    """
    step = 250
    chunks = (range(start, min(start + step, count)) for start in range(0, count, step))
    job = functools.partial(
        _write_range, directory=directory, size=size, seed=seed, per_folder=per_folder
    )
    for _ in ordered_map(job, chunks, workers=workers):
        pass
    return [_path(directory, n, per_folder) for n in range(count)]
