"""F14: revocation is fail-closed. The root signs a versioned manifest of the public registry.

Each test names the attack on a copy of ``agencies/`` (a mirror, a sync job, a repository
edit) and checks it is refused for the right reason.
"""

from __future__ import annotations

import datetime as dt
import shutil
import stat
from pathlib import Path

import pytest

from broker import home
from broker.config import Settings
from broker.errors import KeyRevokedError, RegistryManifestError, RegistryRollbackError
from broker.federation import add_agency, init_federation, remove_agency, revoke_key, rotate_keys
from broker.trust.certificates import FederationRoot
from broker.trust.keystore import load_identity, load_root, load_trust
from broker.trust.manifest import load_registry, seen_manifest


def _revoked_home(tmp_path: Path) -> tuple[Settings, str]:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN", "DE-BKA"])
    key_id = load_identity(s, agency="ES-PN").signing.key_id
    revoke_key(s, agency="ES-PN", key_id=key_id, reason="laptop stolen")
    return s, key_id


def test_deleting_a_revocation_file_brings_back_no_key(tmp_path: Path) -> None:
    s, key_id = _revoked_home(tmp_path)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(KeyRevokedError):
        load_trust(s).signing_key(agency="ES-PN", key_id=key_id, at=now)
    rev = home.revocations_dir(s, "ES-PN") / f"{key_id}.rev"
    rev.unlink()
    with pytest.raises(RegistryManifestError) as refused:
        load_trust(s)
    assert refused.value.reason == "bad-registry-manifest"
    assert f"missing: ES-PN/revocations/{key_id}.rev" in (refused.value.detail or "")
    # Deleting the manifest too does not fall back to trusting whatever files are there.
    home.registry_manifest(s).unlink()
    with pytest.raises(RegistryManifestError, match="no registry manifest"):
        load_trust(s)


def test_replaying_an_older_manifest_is_refused(tmp_path: Path) -> None:
    """The whole agencies/ directory is rolled back to a consistent copy taken before the
    revocation: every file matches its (genuine, older) manifest, and still it is refused."""
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN", "DE-BKA"])
    before = tmp_path / "agencies-before"
    shutil.copytree(s.agencies_dir, before)
    key_id = load_identity(s, agency="ES-PN").signing.key_id
    revoke_key(s, agency="ES-PN", key_id=key_id, reason="laptop stolen")
    assert load_trust(s).revocation("ES-PN", key_id) is not None
    shutil.rmtree(s.agencies_dir)
    shutil.copytree(before, s.agencies_dir)
    with pytest.raises(RegistryRollbackError) as refused:
        load_trust(s)
    assert refused.value.reason == "registry-rollback"
    assert "older" in refused.value.message


def test_a_tampered_manifest_is_refused(tmp_path: Path) -> None:
    s, _ = _revoked_home(tmp_path)
    path = home.registry_manifest(s)
    genuine = path.read_bytes()
    flipped = bytearray(genuine)
    flipped[len(flipped) // 3] ^= 0x01
    path.write_bytes(bytes(flipped))
    with pytest.raises(RegistryManifestError, match="does not verify"):
        load_trust(s)
    # A manifest signed by another root that omits the revocation is no better.
    forged = FederationRoot.generate().sign_manifest(version=10**6, members=[], files={})
    path.write_bytes(forged)
    with pytest.raises(RegistryManifestError, match="does not verify"):
        load_trust(s)
    path.write_bytes(genuine)
    assert load_trust(s).agency_ids() == ["DE-BKA", "ES-PN"]


def test_an_unlisted_certificate_is_refused(tmp_path: Path) -> None:
    """A genuine root-signed certificate copied in without a manifest naming it is refused,
    not silently trusted (nor silently ignored)."""
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"])
    cert = next(home.certificates_dir(s, "ES-PN").glob("*.cert"))
    shutil.copy(cert, cert.with_name("sig-extra.cert"))
    with pytest.raises(RegistryManifestError) as refused:
        load_trust(s)
    assert "unlisted: ES-PN/certificates/sig-extra.cert" in (refused.value.detail or "")
    # Files the loader never reads are not part of the registry.
    (s.agencies_dir / "README.md").write_text("public registry\n")
    cert.with_name("sig-extra.cert").unlink()
    assert load_trust(s).agency_ids() == ["ES-PN"]


def test_a_forked_manifest_with_a_seen_version_is_refused(tmp_path: Path) -> None:
    """Even the root's key (say, stolen) cannot swap in a different manifest under a version
    this home has already accepted."""
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"])
    reg = load_registry(s)
    root = load_root(s, None)
    files = dict(reg.manifest.files)
    fork = root.sign_manifest(
        version=reg.manifest.version, members=reg.manifest.members, files=files
    )
    home.registry_manifest(s).write_bytes(fork)
    with pytest.raises(RegistryRollbackError, match="forks"):
        load_trust(s)


def test_every_administrative_act_issues_a_new_manifest_version(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN", "DE-BKA"])
    versions = [load_registry(s).manifest.version]
    add_agency(s, agency="PT-PJ")
    versions.append(load_registry(s).manifest.version)
    rotate_keys(s, agency="PT-PJ", usages=("SIGN",))
    versions.append(load_registry(s).manifest.version)
    key_id = load_identity(s, agency="DE-BKA").signing.key_id
    revoke_key(s, agency="DE-BKA", key_id=key_id, reason="test")
    versions.append(load_registry(s).manifest.version)
    remove_agency(s, agency="PT-PJ")
    versions.append(load_registry(s).manifest.version)
    assert versions == sorted(set(versions))  # strictly increasing
    assert load_registry(s).manifest.members == ["DE-BKA", "ES-PN", "PT-PJ"]
    seen = home.registry_seen(s)
    assert seen_manifest(s) == versions[-1]
    assert stat.S_IMODE(seen.stat().st_mode) == 0o600
    assert stat.S_IMODE(seen.parent.stat().st_mode) == 0o700


def test_reinitialised_federation_continues_the_version_sequence(tmp_path: Path) -> None:
    """`federation init --force` replaces the registry; its manifest is newer, not refused."""
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"])
    first = load_registry(s).manifest.version
    init_federation(s, agencies=["DE-BKA"], force=True)
    assert load_registry(s).manifest.version > first
    assert load_trust(s).agency_ids() == ["DE-BKA"]
