"""The demo's seized device: a folder of generated pictures and other files, hashed by
``broker media hash`` and sent as one streamed dossier through the demo federation.

:func:`seized_device` writes :data:`IMAGES` small synthetic JPEG pictures
(:mod:`broker.media.synthetic`: shapes and noise, never real material) and
:data:`OTHER_FILES` small non-image files (chat databases, documents: random bytes)
into a seized-device folder, runs the real ``broker media hash`` command over it with
every core, and has ES-PN publish the reference list to DE-BKA as one streamed
dossier (parts under one content key, then one signed manifest). It runs before the
router and the inbox processes start (they exit after seconds of silence, and hashing
is the quiet part), so they route and verify it while the operation is published.
After the demo, :meth:`SeizureResult.line` reads back what DE-BKA stored (the verified
manifest) and the receipt ES-PN got.

Example (inside :func:`broker.devtools.demo.run_demo`)::

    await seized_device(settings, result, say=say)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from broker import home
from broker.agency import AgencyNode
from broker.agency.store import AgencyStore
from broker.config import Settings
from broker.connect import connection_for
from broker.media.references import read_references
from broker.media.synthetic import write_images
from broker.models import MediaReference
from broker.models.dossier import SeizedDevice
from broker.models.streamed import Manifest
from broker.synthetic import example_dossier

__all__ = ["IMAGES", "OTHER_FILES", "SeizureResult", "seized_device"]

#: Pictures on the demo's seized device (32 x 32 px JPEG: PDQ hashes them all the same).
IMAGES = 2_000
#: Other files on it (not images: SHA-256 and MD5 only).
OTHER_FILES = 18_000
SENDER, RECIPIENT = "ES-PN", "DE-BKA"
DEVICE = "ES-PN-DEV-0001"


@dataclass
class SeizureResult:
    """What the seized-device step measured, and (after the demo) what DE-BKA verified."""

    settings: Settings
    envelope_id: str = ""
    files: int = 0
    images: int = 0
    references: int = 0
    generate_s: float = 0.0
    hash_s: float = 0.0
    publish_s: float = 0.0
    #: CPU seconds of the whole step (this process and the processes it waited for):
    #: what the step costs on an idle machine, whatever the load.
    cpu_s: float = 0.0
    _received: tuple[int, int, str] | None = None

    def received(self) -> tuple[int, int, str]:
        """(references in the manifest DE-BKA verified and stored, its parts, ES-PN's receipt).

        Read once the demo's processes have exited.
        """
        if self._received is None:
            refs = parts = 0
            store = AgencyStore.open_read_only(home.agency_db(self.settings, RECIPIENT))
            try:
                for item in store.inbox(kind="DOSSIER"):
                    if item.envelope_id == self.envelope_id:
                        manifest = Manifest.from_bytes(item.payload)
                        parts = manifest.part_count
                        refs = sum(s.items for s in manifest.sections if s.kind == "MEDIA")
            finally:
                store.close()
            store = AgencyStore.open_read_only(home.agency_db(self.settings, SENDER))
            try:
                sent = {i.envelope_id: i.status for i in store.sent()}
            finally:
                store.close()
            status = sent.get(self.envelope_id, {}).get(RECIPIENT, "none")
            self._received = (refs, parts, status)
        return self._received

    @property
    def ok(self) -> bool:
        """Whether DE-BKA verified and stored every reference, and said so in a receipt."""
        refs, _, status = self.received()
        return self.references > 0 and refs == self.references and status == "DELIVERED"

    def line(self) -> str:
        """The summary line."""
        refs, parts, status = self.received()
        rate = self.files / self.hash_s if self.hash_s else 0.0
        return (
            f"{self.files} files ({self.images} pictures) generated in {self.generate_s:.1f} s, "
            f"hashed by `broker media hash` in {self.hash_s:.1f} s ({rate:.0f} files/s, all "
            f"cores); {self.references} references published as one streamed dossier in "
            f"{self.publish_s:.1f} s ({self.cpu_s:.1f} s CPU in all); {RECIPIENT} verified "
            f"{refs} in {parts} parts; receipt {status}"
        )


class _Tally(Protocol):
    sent: int
    deliveries_expected: int
    seizure: SeizureResult | None


def _other_files(folder: Path, count: int) -> None:
    """Write ``count`` small non-image files (random bytes) in a phone-like layout."""
    kinds = ("WhatsApp/Databases/msgstore-{}.db", "Documents/note-{}.txt", "Android/data/{}.bin")
    for n in range(count):
        path = folder / kinds[n % len(kinds)].format(n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(64 + n % 512))


def _media_hash(settings: Settings, folder: Path, out: Path) -> None:
    """Run the real ``broker media hash`` command over ``folder`` with every core."""
    env = dict(os.environ, BROKER_HOME=str(settings.home))
    command = [sys.executable, "-m", "broker", "media", "hash", str(folder)]
    command += ["--device-ref", DEVICE, "-o", str(out), "--no-progress"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # noqa: S603 - our CLI


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _counted(refs: Iterator[MediaReference], result: SeizureResult) -> Iterator[MediaReference]:
    for ref in refs:
        result.references += 1
        result.images += ref.perceptual_hash is not None
        yield ref


async def seized_device(
    settings: Settings, tally: _Tally, *, say: Callable[[str], None]
) -> SeizureResult:
    """Hash a generated seized device and publish its references to DE-BKA (module docstring)."""
    result = SeizureResult(settings=settings)
    work = settings.state_dir / "demo-seizure"
    shutil.rmtree(work, ignore_errors=True)
    folder = work / DEVICE
    say(f"   seized device {DEVICE}: {IMAGES} generated pictures, {OTHER_FILES} other files")
    cpu, started = _cpu_s(), time.monotonic()
    workers = os.cpu_count() or 1
    await asyncio.to_thread(write_images, folder, count=IMAGES, size=32, workers=workers)
    await asyncio.to_thread(_other_files, folder, OTHER_FILES)
    result.generate_s = time.monotonic() - started
    result.files = IMAGES + OTHER_FILES
    refs = work / "references.jsonl"
    started = time.monotonic()
    await asyncio.to_thread(_media_hash, settings, folder, refs)
    result.hash_s = time.monotonic() - started
    device = SeizedDevice(
        device_ref=DEVICE,
        type="PHONE",
        storage_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        file_count=result.files,
        media_file_count=IMAGES,
    )
    bare = example_dossier(15).model_copy(update={"media": [], "devices": [device]})
    started = time.monotonic()
    node = AgencyNode.load(settings, agency=SENDER, conn=connection_for(settings, SENDER))
    async with node:
        sent = await node.publish_large(
            bare, media=_counted(read_references(refs), result), to=[RECIPIENT]
        )
    result.publish_s = time.monotonic() - started
    result.cpu_s = _cpu_s() - cpu
    result.envelope_id = sent.envelope_id
    tally.sent += 1
    tally.deliveries_expected += 1
    tally.seizure = result
    shutil.rmtree(folder, ignore_errors=True)  # the reference list stays, to look at
    say(
        f"   hashed {result.files} files in {result.hash_s:.1f} s; {result.references} "
        f"references published to {RECIPIENT} as one streamed dossier in {result.publish_s:.1f} s"
    )
    return result
