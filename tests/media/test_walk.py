"""The walk never leaves the seized folder: no symlink is followed, special files are counted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.errors import MediaSourceError
from broker.media.walk import EntryKind, resolve_root, walk


def _kinds(root: Path) -> dict[str, EntryKind]:
    return {e.path: e.kind for e in walk(resolve_root(root))}


def test_symlink_pointing_outside_is_not_followed_and_is_counted(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_text("not part of the seizure")
    (outside / "deep" / "more.txt").write_text("not part of the seizure")
    root = tmp_path / "seized"
    root.mkdir()
    (root / "file-link").symlink_to(outside / "secret.txt")
    (root / "dir-link").symlink_to(outside)
    (root / "dotdot-link").symlink_to("../outside/secret.txt")
    kinds = _kinds(root)
    assert kinds == {
        "dir-link": EntryKind.SYMLINK_OUTSIDE,
        "dotdot-link": EntryKind.SYMLINK_OUTSIDE,
        "file-link": EntryKind.SYMLINK_OUTSIDE,
    }
    assert not any("secret" in p or "more" in p for p in kinds)


def test_symlink_inside_is_skipped_because_its_target_is_walked_anyway(tmp_path: Path) -> None:
    root = tmp_path / "seized"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.bin").write_bytes(b"x")
    (root / "link-to-x").symlink_to("a/x.bin")
    (root / "link-to-a").symlink_to("a")
    (root / "loop").symlink_to(".")
    assert _kinds(root) == {
        "a/x.bin": EntryKind.FILE,
        "link-to-a": EntryKind.SYMLINK_INSIDE,
        "link-to-x": EntryKind.SYMLINK_INSIDE,
        "loop": EntryKind.SYMLINK_INSIDE,
    }


def test_broken_symlink_counts_as_pointing_nowhere(tmp_path: Path) -> None:
    root = tmp_path / "seized"
    root.mkdir()
    (root / "dangling").symlink_to("missing.jpg")
    assert _kinds(root) == {"dangling": EntryKind.SYMLINK_OUTSIDE}


def test_fifo_is_special_and_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "seized"
    root.mkdir()
    os.mkfifo(root / "pipe")
    assert _kinds(root) == {"pipe": EntryKind.SPECIAL}


def test_walk_order_is_fixed_files_before_subfolders_names_sorted(tmp_path: Path) -> None:
    root = tmp_path / "seized"
    for rel in ["b/2.bin", "b/1.bin", "a/z.bin", "c.bin", "B.bin"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * 3)
    entries = list(walk(resolve_root(root)))
    assert [e.path for e in entries] == ["B.bin", "c.bin", "a/z.bin", "b/1.bin", "b/2.bin"]
    assert all(e.size == 3 for e in entries)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unlistable_folder_is_counted_and_the_walk_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "seized"
    (root / "locked").mkdir(parents=True)
    (root / "ok.bin").write_bytes(b"x")
    (root / "locked").chmod(0)
    try:
        assert _kinds(root) == {"ok.bin": EntryKind.FILE, "locked": EntryKind.UNLISTABLE}
    finally:
        (root / "locked").chmod(0o700)


def test_missing_folder_is_a_media_source_error(tmp_path: Path) -> None:
    with pytest.raises(MediaSourceError, match="does not exist"):
        resolve_root(tmp_path / "nope")


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(MediaSourceError, match="not a directory"):
        resolve_root(tmp_path / "f")


def test_folder_failing_to_list_is_counted_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "seized"
    (root / "locked").mkdir(parents=True)
    (root / "ok.bin").write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path: Path) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    entries = list(walk(root))
    assert [(e.path, e.kind, e.detail) for e in entries] == [
        ("ok.bin", EntryKind.FILE, None),
        ("locked", EntryKind.UNLISTABLE, "Permission denied"),
    ]
