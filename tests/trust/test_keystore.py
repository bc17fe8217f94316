"""The federation on disk and its CLI: init, show, add, rotate, revoke, remove."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.audit.keys import load_audit_keys
from broker.cli import app
from broker.config import Settings
from broker.errors import ConfigError, KeyRevokedError, RegistryManifestError
from broker.federation import add_agency, init_federation, revoke_key, rotate_keys
from broker.trust.keystore import load_identity, load_trust


def test_init_writes_public_material_and_private_keys_0600(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN", "DE-BKA"])
    assert (tmp_path / "agencies" / "federation-root.json").is_file()
    keys = list((tmp_path / "keys").rglob("*.key"))
    # root; a signing and an encryption key per agency; an audit key per audit stream
    assert len(keys) == 1 + 2 * 2 + 4
    audit = sorted(p.stem for p in (tmp_path / "keys" / "audit").glob("*.key"))
    assert audit == ["DE-BKA", "ES-PN", "federation", "router"]
    assert sorted(load_audit_keys(s)) == audit  # each certified by the root
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not list((tmp_path / "agencies").rglob("*.key"))
    ident = load_identity(s, agency="DE-BKA")
    assert ident.agency == "DE-BKA" and len(ident.decryption) == 1


def test_existing_federation_is_not_overwritten(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"])
    with pytest.raises(ConfigError, match="already exists"):
        init_federation(s, agencies=["ES-PN"])


def test_passphrase_protected_keys_load_only_with_the_passphrase(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"], passphrase="correct horse")
    text = next((tmp_path / "keys" / "ES-PN").glob("*.key")).read_text()
    assert "seeds" not in json.loads(text)
    with pytest.raises(ConfigError, match="passphrase"):
        load_identity(s, agency="ES-PN")
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_identity(s, agency="ES-PN", passphrase="battery staple")
    assert load_identity(s, agency="ES-PN", passphrase="correct horse").agency == "ES-PN"


def test_rotate_then_revoke_on_disk(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"])
    old = load_identity(s, agency="ES-PN")
    new_ids = rotate_keys(s, agency="ES-PN")
    new = load_identity(s, agency="ES-PN")
    assert new.signing.key_id in new_ids and new.signing.key_id != old.signing.key_id
    assert set(old.decryption) < set(new.decryption)  # old decryption key kept
    revoke_key(s, agency="ES-PN", key_id=new.signing.key_id, reason="laptop stolen")
    import datetime as dt

    with pytest.raises(KeyRevokedError):
        load_trust(s).signing_key(
            agency="ES-PN", key_id=new.signing.key_id, at=dt.datetime.now(dt.UTC)
        )


def test_added_agency_joins_the_trust_store(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN"])
    add_agency(s, agency="PT-PJ")
    assert load_trust(s).agency_ids() == ["ES-PN", "PT-PJ"]
    with pytest.raises(ConfigError):
        add_agency(s, agency="PT-PJ")


def test_cli_federation_lifecycle(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    r = runner.invoke(app, ["federation", "init", "--agencies", "ES-PN,DE-BKA", *home])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["agency", "add", "IT-PS", *home])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["agency", "rotate", "IT-PS", "--usage", "sign", *home])
    assert r.exit_code == 0, r.output
    shown = runner.invoke(app, ["federation", "show", "--json", *home])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert sorted(data["agencies"]) == ["DE-BKA", "ES-PN", "IT-PS"]
    key_id = data["agencies"]["DE-BKA"][0]["key_id"]
    r = runner.invoke(
        app, ["agency", "revoke", "DE-BKA", "--key-id", key_id, "--reason", "test", *home]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["agency", "remove", "IT-PS", *home])
    assert r.exit_code == 0, r.output
    again = json.loads(runner.invoke(app, ["federation", "show", "--json", *home]).output)
    assert all(k["revoked"] for k in again["agencies"]["IT-PS"])


def test_cli_rejects_malformed_agency_id(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["federation", "init", "--agencies", "es pn", "--home", str(tmp_path)]
    )
    assert r.exit_code != 0


def test_attack_swapped_audit_key_certificate_is_refused(tmp_path: Path) -> None:
    """An attacker who can write agencies/ replaces ES-PN's audit key with DE-BKA's statement
    under ES-PN's file name, or flips a byte: the auditor's key loading fails closed (the
    root-signed registry manifest no longer matches; each statement is checked after that)."""
    s = Settings(home=tmp_path)
    init_federation(s, agencies=["ES-PN", "DE-BKA"])
    certs = tmp_path / "agencies" / "audit-keys"
    genuine = (certs / "ES-PN.cert").read_bytes()
    data = bytearray(genuine)
    data[-5] ^= 0x01
    (certs / "ES-PN.cert").write_bytes(bytes(data))
    with pytest.raises(RegistryManifestError, match="does not match") as flipped:
        load_audit_keys(s)
    assert "altered: audit-keys/ES-PN.cert" in (flipped.value.detail or "")
    (certs / "ES-PN.cert").write_bytes((certs / "DE-BKA.cert").read_bytes())
    with pytest.raises(RegistryManifestError) as swapped:
        load_audit_keys(s)
    assert "altered: audit-keys/ES-PN.cert" in (swapped.value.detail or "")
    (certs / "ES-PN.cert").write_bytes(genuine)
    assert sorted(load_audit_keys(s)) == ["DE-BKA", "ES-PN", "federation", "router"]
