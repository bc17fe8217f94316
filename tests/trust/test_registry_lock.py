"""A registry read while another process rewrites it is the old one or the new one, never a
refusal: a router or hub that loaded the registry while a member joined once died of it.

The reader is a separate process (the registry's rollback memory is shared by every
process of a home), looping :func:`broker.trust.manifest.load_registry` while this process
adds members. Without :func:`broker.trust.lock.registry_lock` it reads manifest version N
just before the writer remembers N+1 (``RegistryRollbackError``: "older than one already
seen"), or the files between a new profile and its manifest (``RegistryManifestError``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from broker.config import Settings
from broker.federation import add_agency, init_federation
from broker.trust.manifest import load_registry

_READER = """
import json, sys, time
from pathlib import Path
from broker.config import Settings
from broker.errors import Error
from broker.trust.manifest import load_registry

settings, stop = Settings(home=sys.argv[1]), Path(sys.argv[2])
loads, errors, versions = 0, [], set()
Path(sys.argv[3]).touch()  # started
while not stop.exists():
    try:
        versions.add(load_registry(settings).manifest.version)
        loads += 1
    except Error as exc:
        errors.append(f"{type(exc).__name__}: {exc.diagnostics()}")
    time.sleep(0.005)  # readers poll (live trust: every 0.5 s); a tight loop starves flock writers
print(json.dumps({"loads": loads, "errors": errors[:5], "n_errors": len(errors),
                  "versions": sorted(versions)}))
"""


def test_loading_the_registry_while_members_join_never_refuses_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    init_federation(settings, agencies=["ES-PN", "DE-BKA"])
    first = load_registry(settings).manifest.version
    stop, started = tmp_path / "stop", tmp_path / "started"
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(settings.home), str(stop), str(started)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        joined = [f"HR-T{i:02d}" for i in range(8)]
        for agency in joined:
            add_agency(settings, agency=agency, kind="hotline", country="HR")
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=120)
    result = json.loads(out)
    assert result["n_errors"] == 0, result["errors"]
    # The reader really raced the writer: it saw the registry before, during and after.
    last = load_registry(settings).manifest.version
    assert last == first + len(joined)
    assert len(result["versions"]) >= 3, result["versions"]
