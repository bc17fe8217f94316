"""A whole folder: every count of the summary, and the same output on one core or two."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from broker.media.hashing import FileHash, Outcome
from broker.media.scan import PROBLEMS_KEPT, Scan, ScanSummary
from broker.models import PDQ_MIN_QUALITY


def test_summary_counts_every_kind_of_entry(seized: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.jpg").write_bytes(b"outside the seizure")
    (seized / "out-link").symlink_to(tmp_path / "elsewhere.jpg")
    (seized / "in-link").symlink_to("notes.txt")
    os.mkfifo(seized / "pipe")
    scan = Scan(directory=seized, workers=1)
    files = list(scan.run())
    s = scan.summary
    assert (s.files, s.images, s.low_quality, s.non_images, s.broken_images) == (6, 4, 1, 1, 1)
    assert (s.oversized_images, s.unreadable, s.symlinks_skipped, s.symlinks_outside) == (
        0,
        1,
        2,
        1,
    )
    assert [(p.path, p.kind) for p in s.problems] == [
        ("pipe", "special"),
        ("broken.jpg", "broken-image"),
    ]
    assert scan.count() == (6, s.bytes)
    # Every regular file got both digests; nothing outside the folder was read.
    assert len(files) == 6 and all(f.sha256 and f.md5 for f in files)
    outside = hashlib.sha256(b"outside the seizure").hexdigest()
    assert outside not in {f.sha256 for f in files}
    flat = next(f for f in files if f.path == "flat.png")
    assert flat.pdq_quality is not None and flat.pdq_quality < PDQ_MIN_QUALITY


def test_two_workers_give_the_same_files_in_the_same_order(seized: Path) -> None:
    for n in range(3, 80):  # more than one batch
        (seized / "many").mkdir(exist_ok=True)
        (seized / "many" / f"{n:03d}.bin").write_bytes(n.to_bytes(2, "big") * 500)
    one = list(Scan(directory=seized, workers=1).run())
    two_scan = Scan(directory=seized, workers=2)
    two = list(two_scan.run())
    assert one == two and two_scan.summary.files == len(two) == 83


def test_problem_list_is_capped_but_every_problem_is_counted() -> None:
    summary = ScanSummary()
    for n in range(PROBLEMS_KEPT + 5):
        summary.add(FileHash(path=f"{n}", outcome=Outcome.UNREADABLE, detail="x"))
    assert summary.unreadable == PROBLEMS_KEPT + 5
    assert len(summary.problems) == PROBLEMS_KEPT and summary.problems_not_listed == 5


def test_file_name_that_is_not_utf8_is_hashed_and_kept_reversible(tmp_path: Path) -> None:
    root = tmp_path / "seized"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9.bin"  # Latin-1 name from an old device
    with open(raw, "wb") as f:  # noqa: PTH123 - a bytes path on purpose
        f.write(b"x")
    (file,) = Scan(directory=root, workers=1).run()
    assert file.path == "caf\udce9.bin" and os.fsencode(file.path) == b"caf\xe9.bin"
    assert file.sha256 == hashlib.sha256(b"x").hexdigest()
