"""Generated pictures: deterministic, named like a phone's camera folder, never real material."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from broker.media.synthetic import synthetic_image, write_images


def test_same_seed_same_picture_other_seed_other_picture() -> None:
    a, b = synthetic_image(7, size=48), synthetic_image(7, size=48)
    assert a.tobytes() == b.tobytes() != synthetic_image(8, size=48).tobytes()


def test_write_images_fills_camera_folders(tmp_path: Path) -> None:
    paths = write_images(tmp_path, count=5, size=32, per_folder=2)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "DCIM/0000/IMG_000000.jpg",
        "DCIM/0000/IMG_000001.jpg",
        "DCIM/0001/IMG_000002.jpg",
        "DCIM/0001/IMG_000003.jpg",
        "DCIM/0002/IMG_000004.jpg",
    ]
    with Image.open(paths[4]) as image:
        assert image.format == "JPEG" and image.size == (32, 32)
