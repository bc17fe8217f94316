"""``broker media``: hash a seized folder into the media references a dossier carries.

Example::

    $ broker media hash /evidence/EXH-0042 --device-ref D1 -o EXH-0042.jsonl
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from broker.errors import ConfigError
from broker.media.hashing import HashOptions
from broker.media.references import ReferenceWriter, media_reference
from broker.media.scan import Scan, ScanSummary

__all__ = ["app"]

app = typer.Typer(help="Seized media: hash a folder into media references.", no_args_is_help=True)

#: Problem paths printed at the end (the summary keeps more; all are counted).
_PRINTED_PROBLEMS = 50
#: Seconds between progress bar redraws.
_REFRESH_S = 0.2


def _check_output(output: Path | None, root: Path) -> None:
    if output is None:
        return
    parent = output.absolute().parent.resolve()
    if parent == root or root in parent.parents:
        raise ConfigError(
            f"{output} is inside the folder being hashed",
            detail="write the references outside the seized folder: it is evidence, and the "
            "walk would meet the file being written",
        )
    if not parent.is_dir():
        raise ConfigError(f"{output.parent} is not a directory")
    if output.is_dir():
        raise ConfigError(f"{output} is a directory; name the file to write")


def _print_summary(console: Console, summary: ScanSummary, output: Path | None) -> None:
    s = summary
    console.print(
        f"hashed {s.files:,} files ({s.bytes / 2**20:,.1f} MiB): {s.images:,} images with PDQ "
        f"({s.low_quality:,} of low quality, flagged), {s.non_images:,} not images, "
        f"{s.broken_images:,} images that did not decode, {s.oversized_images:,} too large"
    )
    console.print(
        f"not hashed: {s.unreadable:,} unreadable; {s.symlinks_skipped:,} symlinks skipped "
        f"({s.symlinks_outside:,} pointing outside the folder or nowhere)"
    )
    for problem in s.problems[:_PRINTED_PROBLEMS]:
        console.print(f"  {problem.kind}: {problem.path}: {problem.detail}", markup=False)
    more = len(s.problems) - _PRINTED_PROBLEMS + s.problems_not_listed
    if more > 0:
        console.print(f"  ... and {more:,} more")
    if output is not None:
        console.print(f"references written to {output}", markup=False)


@app.command("hash")
def hash_cmd(
    directory: Path = typer.Argument(
        ..., help="Seized folder to hash. Symbolic links below it are never followed."
    ),
    device_ref: str | None = typer.Option(
        None,
        "--device-ref",
        help="Seized-device reference put on every line (the dossier's devices[].device_ref).",
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="Write the JSON Lines here (complete or not at all) instead of stdout.",
    ),
    workers: int = typer.Option(
        os.cpu_count() or 1, "--workers", min=1, help="Worker processes (default: every core)."
    ),
    pdq_downscale: bool = typer.Option(
        False,
        "--pdq-downscale",
        help="Hash images over 512 px at 512x512 like Meta's C++ pdq-photo-hasher: far faster "
        "on camera photos, but a few bits off the full-resolution PDQ that pytx/HMA compute.",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show a progress bar on stderr."
    ),
) -> None:
    """Hash every file (SHA-256, MD5) and every image (PDQ + quality) into media references.

    Prints a summary on stderr: files hashed, images, non-images, unreadable files,
    symlinks skipped, low-quality PDQ hashes. Unreadable files are counted and listed,
    never fatal. Exit status 2 if DIRECTORY is not a usable folder.
    """
    scan = Scan(
        directory=directory, workers=workers, options=HashOptions(pdq_downscale=pdq_downscale)
    )
    _check_output(output, scan.root)
    console = Console(stderr=True, soft_wrap=True)
    with (
        ReferenceWriter(path=output) as out,
        Progress(
            TextColumn("hashing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not progress,
            transient=True,
            # No refresh thread: workers are forked, and a thread holding a lock at that
            # moment would leave it held in them. advance() below refreshes instead.
            auto_refresh=False,
        ) as bar,
    ):
        # A quick first walk gives the bar its total (and an ETA).
        task = bar.add_task("hash", total=scan.count()[0] if progress else None)
        shown = time.monotonic()

        def advance(_: object) -> None:
            nonlocal shown
            bar.advance(task)
            if time.monotonic() - shown >= _REFRESH_S:
                bar.refresh()
                shown = time.monotonic()

        for file in scan.run(progress=advance):
            out.write(file, media_reference(file, device_ref=device_ref))
    _print_summary(console, scan.summary, output)
