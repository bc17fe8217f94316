"""Fetch the Apache Kafka broker jars from Maven Central, once, into a per-user cache.

The pinned versions live in ``broker/local/pom.xml``; Maven copies the runtime
dependencies into ``<cache>/kafka-<version>/libs`` (default cache
``~/.cache/dossier-broker``, outside any repository). A download goes to a
temporary directory and is renamed into place only once complete and checked
(one ``kafka_2.13`` jar, exactly one SLF4J binding) with a ``.complete`` stamp,
so a partial download is never mistaken for a good one.

Example::

    >>> from broker.local.jars import kafka_version
    >>> kafka_version().split(".")[0]
    '4'
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

from broker.errors import LocalKafkaError

__all__ = ["fetch_jars", "find_java", "kafka_version", "pom_path"]

_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
_STAMP = ".complete"
_SLF4J_BINDING = re.compile(
    r"(log4j-slf4j2?-impl|slf4j-(simple|reload4j|jdk14|nop)|logback-classic)-"
)


def pom_path() -> Path:
    """Return the pinned ``pom.xml`` shipped with the package (for messages)."""
    return Path(str(resources.files("broker.local").joinpath("pom.xml")))


def _pom_bytes() -> bytes:
    # importlib.resources works whether the package is a checkout, a wheel or a zip.
    return resources.files("broker.local").joinpath("pom.xml").read_bytes()


@functools.cache
def kafka_version() -> str:
    """Return the Kafka version pinned in the pom."""
    root = ET.fromstring(_pom_bytes())  # noqa: S314 - our own file
    node = root.find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not node.text:
        raise LocalKafkaError("kafka.version missing from pom.xml", detail=str(pom_path()))
    return node.text.strip()


def find_java() -> str:
    """Return the ``java`` executable, checking it is Java 17 or newer."""
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "java not found on PATH: the local Kafka broker needs Java 17 or newer",
            detail="install a JDK/JRE 17+ (e.g. openjdk-17-jre-headless) and retry",
        )
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError("cannot run java -version", detail=str(exc)) from exc
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if match is None or int(match.group(1)) < 17:
        raise LocalKafkaError(
            "java 17 or newer is required for Kafka 4", detail=(out.stderr or out.stdout)[:300]
        )
    return java


def fetch_jars(*, cache_dir: Path, quiet: bool = True) -> Path:
    """Return the directory of Kafka jars, downloading them with Maven if needed.

    Safe to call from several processes at once: one downloads under a file lock,
    the others wait and reuse its result.
    """
    version_dir = cache_dir / f"kafka-{kafka_version()}"
    target = version_dir / "libs"
    if (target / _STAMP).is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            "mvn (Apache Maven) not found on PATH: it fetches the Kafka jars from Maven Central",
            detail="install Maven 3.8+ and retry",
        )
    version_dir.mkdir(parents=True, exist_ok=True)
    with (version_dir / ".fetch.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / _STAMP).is_file():  # another process finished while we waited
            return target
        partial = version_dir / f"libs.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _download(mvn, partial, quiet=quiet)
            _check_jars(partial)
            (partial / _STAMP).write_text(kafka_version() + "\n")
            # No stamp means an interrupted earlier attempt: replace it whole.
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def _download(mvn: str, output: Path, *, quiet: bool) -> None:
    # Maven runs on a copy of the pom: the installed package may be read-only, and
    # Maven's own files must not land inside it.
    output.mkdir(parents=True)
    work = output / ".maven"
    work.mkdir()
    pom = work / "pom.xml"
    pom.write_bytes(_pom_bytes())
    argv = [mvn, "-B", "-f", str(pom), f"{_DEPENDENCY_PLUGIN}:copy-dependencies"]
    argv += ["-DincludeScope=runtime", f"-DoutputDirectory={output}"]
    if quiet:
        argv.insert(1, "-q")
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, timeout=1800, check=False, cwd=work
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError("maven failed to fetch the Kafka jars", detail=str(exc)) from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise LocalKafkaError(
            "maven failed to fetch the Kafka jars from Maven Central", detail=tail
        )
    shutil.rmtree(work, ignore_errors=True)


def _check_jars(libs: Path) -> None:
    names = [p.name for p in libs.glob("*.jar")]
    if not any(n.startswith(f"kafka_2.13-{kafka_version()}") for n in names):
        raise LocalKafkaError("the Kafka broker jar is missing after download", detail=str(libs))
    # Exactly one SLF4J binding, or the broker logs nothing (or warns about several).
    bindings = [n for n in names if _SLF4J_BINDING.match(n)]
    if len(bindings) != 1:
        raise LocalKafkaError(
            "expected exactly one SLF4J binding among the Kafka jars", detail=", ".join(bindings)
        )
