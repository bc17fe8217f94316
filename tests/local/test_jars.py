"""Fetching the Kafka jars: pinned pom, one SLF4J binding, no partial download taken as done."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from broker.config import Settings
from broker.errors import LocalKafkaError
from broker.local.jars import _check_jars, fetch_jars, kafka_version, pom_path

# A stand-in for `mvn`: writes the named jars into -DoutputDirectory, then exits.
_FAKE_MVN = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
for jar in %(jars)s; do : > "$out/$jar"; done
echo "fake maven ran" >&2
exit %(status)d
"""


def _fake_mvn(bin_dir: Path, *, jars: list[str], status: int = 0) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "mvn"
    script.write_text(_FAKE_MVN % {"jars": " ".join(jars), "status": status})
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def path_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def _good_jars() -> list[str]:
    v = kafka_version()
    return [f"kafka_2.13-{v}.jar", f"kafka-clients-{v}.jar", "log4j-slf4j-impl-2.24.3.jar"]


def test_pom_pins_a_kafka_4_1_release() -> None:
    assert pom_path().is_file()
    assert re.fullmatch(r"4\.1\.\d+", kafka_version())
    text = pom_path().read_text()
    for artifact in ("kafka_2.13", "kafka-tools", "log4j-slf4j-impl", "slf4j-api"):
        assert f"<artifactId>{artifact}</artifactId>" in text
    assert "<version>3.6.1</version>" in text  # maven-dependency-plugin


def test_fetch_copies_jars_once_and_reuses_them(path_with: Path, tmp_path: Path) -> None:
    _fake_mvn(path_with, jars=_good_jars())
    libs = fetch_jars(cache_dir=tmp_path / "cache")
    assert libs == tmp_path / "cache" / f"kafka-{kafka_version()}" / "libs"
    assert sorted(p.name for p in libs.glob("*.jar")) == sorted(_good_jars())
    assert (libs / ".complete").read_text().strip() == kafka_version()
    assert not list(libs.parent.glob("libs.partial-*"))

    (path_with / "mvn").unlink()  # a second call needs no Maven at all
    assert fetch_jars(cache_dir=tmp_path / "cache") == libs


def test_failed_download_is_not_mistaken_for_complete(path_with: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fake_mvn(path_with, jars=_good_jars()[:1], status=1)
    with pytest.raises(LocalKafkaError, match="maven failed") as info:
        fetch_jars(cache_dir=cache)
    assert "fake maven ran" in (info.value.detail or "")
    version_dir = cache / f"kafka-{kafka_version()}"
    assert not (version_dir / "libs").exists()
    assert not list(version_dir.glob("libs.partial-*"))

    # A directory left by an older, interrupted attempt (no stamp) is replaced.
    (version_dir / "libs").mkdir()
    (version_dir / "libs" / "truncated.jar").write_bytes(b"")
    _fake_mvn(path_with, jars=_good_jars())
    libs = fetch_jars(cache_dir=cache)
    assert not (libs / "truncated.jar").exists()
    assert (libs / ".complete").is_file()


def test_two_slf4j_bindings_are_refused(path_with: Path, tmp_path: Path) -> None:
    _fake_mvn(path_with, jars=[*_good_jars(), "slf4j-simple-1.7.36.jar"])
    with pytest.raises(LocalKafkaError, match="exactly one SLF4J binding"):
        fetch_jars(cache_dir=tmp_path / "cache")


def test_missing_broker_jar_is_refused(path_with: Path, tmp_path: Path) -> None:
    _fake_mvn(path_with, jars=["log4j-slf4j-impl-2.24.3.jar"])
    with pytest.raises(LocalKafkaError, match="broker jar is missing"):
        fetch_jars(cache_dir=tmp_path / "cache")


def test_missing_maven_names_mvn(path_with: Path, tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="mvn") as info:
        fetch_jars(cache_dir=tmp_path / "cache")
    assert "Maven" in info.value.message


def test_the_real_cached_jars_have_exactly_one_binding() -> None:
    libs = Settings().cache_dir / f"kafka-{kafka_version()}" / "libs"
    if not (libs / ".complete").is_file():
        pytest.skip("Kafka jars not fetched yet (`broker local fetch`)")
    _check_jars(libs)
    names = [p.name for p in libs.iterdir()]
    assert "log4j-slf4j-impl-2.24.3.jar" in names
    assert not [n for n in names if n.startswith("log4j-slf4j2-impl")]
