"""Generated images for tests, benchmarks and the demo: shapes and noise, never real material.

:func:`synthetic_image` draws a deterministic picture from a seed: a smooth random
background (a coarse random grid, upscaled), a few random ellipses, rectangles
and polygons, and fine noise. Different seeds give unrelated pictures (PDQ
distance about 128). :func:`near_duplicates` derives the edits a copy of a
picture typically goes through (resized, re-compressed as JPEG, cropped at the
edges), which PDQ should still match. :func:`write_images` fills a folder with
many such files, fast enough for a demo seizure of tens of thousands.

Example::

    >>> a = synthetic_image(1, size=64)
    >>> a.size, a.mode, a.tobytes() == synthetic_image(1, size=64).tobytes()
    ((64, 64), 'RGB', True)
    >>> sorted(near_duplicates(a))
    ['cropped', 'recompressed', 'resized']
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["near_duplicates", "synthetic_image", "write_images"]

_SHAPES = 12


def synthetic_image(seed: int, *, size: int = 256) -> Image.Image:
    """Return a ``size`` x ``size`` RGB picture determined by ``seed``."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(_SHAPES):
        xs, ys = np.sort(rng.integers(0, size, 2)), np.sort(rng.integers(0, size, 2))
        box = (int(xs[0]), int(ys[0]), int(xs[1]) + 1, int(ys[1]) + 1)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            points = [(int(x), int(y)) for x, y in rng.integers(0, size, (5, 2))]
            draw.polygon(points, fill=colour)
    noise = rng.integers(-3, 4, (size, size, 3), dtype=np.int16)  # sensor-like grain
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
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


def _names(count: int, per_folder: int) -> Iterator[tuple[int, str]]:
    for n in range(count):
        yield n, f"DCIM/{n // per_folder:04d}/IMG_{n:06d}.jpg"


def write_images(
    directory: Path, *, count: int, size: int = 128, seed: int = 0, per_folder: int = 1000
) -> list[Path]:
    """Write ``count`` JPEG pictures under ``directory`` (folders of ``per_folder``)."""
    written = []
    for n, name in _names(count, per_folder):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(seed * 1_000_003 + n, size=size).save(path, "JPEG", quality=85)
        written.append(path)
    return written
