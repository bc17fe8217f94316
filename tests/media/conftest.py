"""Fixtures for the media tests: small seized folders of generated pictures only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from broker.media.synthetic import synthetic_image


@pytest.fixture
def picture(tmp_path: Path) -> Callable[..., Path]:
    """Return a writer of one generated picture: ``picture("a.jpg", seed=1, size=64)``."""

    def write(name: str, *, seed: int = 0, size: int = 64, fmt: str = "JPEG") -> Path:
        path = tmp_path / "seized" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(seed, size=size).save(path, fmt)
        return path

    return write


@pytest.fixture
def seized(tmp_path: Path) -> Path:
    """A folder with 3 pictures, a flat one, a text file and a truncated JPEG."""
    root = tmp_path / "seized"
    (root / "DCIM").mkdir(parents=True)
    for n in range(3):
        synthetic_image(n, size=64).save(root / "DCIM" / f"IMG_{n}.jpg", "JPEG")
    Image.new("RGB", (64, 64), (90, 90, 200)).save(root / "flat.png")
    (root / "notes.txt").write_text("synthetic test file, not evidence\n")
    whole = (root / "DCIM" / "IMG_0.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(whole[: len(whole) // 2])  # header fine, data cut
    return root
