"""The public registry over the compacted federation topic, on the real broker.

The administrator's commands publish the registry; a member holding only the root's
public key rebuilds an identical registry from the topic; the Kafka operator, who can
write anything to the topic, can neither remove a revocation nor roll the registry back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from broker import home
from broker.cli import app
from broker.config import Settings
from broker.errors import KeyRevokedError, RegistryManifestError, RegistryRollbackError
from broker.federation import init_federation, revoke_key
from broker.topics import TopicLayout
from broker.transport import KafkaConnection, ensure_topics
from broker.trust.distribution import MANIFEST_KEY, publish_registry, read_topic, sync_registry
from broker.trust.keystore import load_identity, load_trust
from broker.trust.manifest import load_registry


def _member_home(path: Path, admin: Settings) -> Settings:
    """A fresh home holding only the root's public key (obtained out of band)."""
    member = Settings(
        home=path, kafka_bootstrap=admin.kafka_bootstrap, topic_prefix=admin.topic_prefix
    )
    member.agencies_dir.mkdir(parents=True)
    shutil.copy(home.root_public(admin), home.root_public(member))
    return member


async def _produce(conn: KafkaConnection, topic: str, key: str, value: bytes | None) -> None:
    producer = conn.producer()
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key.encode(), value=value)
    finally:
        await producer.stop()


async def test_cli_publishes_and_a_member_rebuilds_the_same_registry_from_the_topic(
    tmp_path: Path, kafka_bootstrap: str, kafka_conn: KafkaConnection, unique: str
) -> None:
    env = {"KAFKA_BOOTSTRAP": kafka_bootstrap, "BROKER_TOPIC_PREFIX": f"t{unique}"}
    admin = Settings(
        home=tmp_path / "admin",
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=env["BROKER_TOPIC_PREFIX"],
    )
    runner = CliRunner()

    async def invoke(*args: str, where: Settings = admin) -> Result:  # its own event loop
        argv = [*args, "--home", str(where.home)]
        return await asyncio.to_thread(runner.invoke, app, argv, env=env)

    r = await invoke("federation", "init", "--agencies", "ES-PN,DE-BKA")
    assert r.exit_code == 0, r.output
    assert "registry published" in r.output
    key_id = load_identity(admin, agency="ES-PN").signing.key_id
    r = await invoke("agency", "revoke", "ES-PN", "--key-id", key_id, "--reason", "stolen")
    assert r.exit_code == 0, r.output
    assert "registry published" in r.output

    member = _member_home(tmp_path / "member", admin)
    r = await invoke("federation", "sync", "--as", "DE-BKA", where=member)
    assert r.exit_code == 0, r.output
    version = load_registry(admin).manifest.version
    assert f"registry manifest version {version} from t{unique}.federation" in r.output
    assert load_registry(member).files == load_registry(admin).files  # byte for byte
    trust = load_trust(member)
    assert trust.agency_ids() == load_trust(admin).agency_ids() == ["DE-BKA", "ES-PN"]
    with pytest.raises(KeyRevokedError):
        trust.signing_key(agency="ES-PN", key_id=key_id, at=dt.datetime.now(dt.UTC))


async def test_a_revocation_cannot_be_removed_or_rolled_back_through_the_topic(
    tmp_path: Path, kafka_bootstrap: str, kafka_conn: KafkaConnection, unique: str
) -> None:
    admin = Settings(
        home=tmp_path / "admin", kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}"
    )
    layout = TopicLayout(prefix=admin.topic_prefix)
    init_federation(admin, agencies=["ES-PN", "DE-BKA"])
    await ensure_topics(kafka_conn, layout=layout, agencies=["ES-PN", "DE-BKA"])
    await publish_registry(admin, kafka_conn, layout=layout)
    before_revocation = (await read_topic(kafka_conn, layout=layout))[MANIFEST_KEY]
    key_id = load_identity(admin, agency="ES-PN").signing.key_id
    revoke_key(admin, agency="ES-PN", key_id=key_id, reason="laptop stolen")
    await publish_registry(admin, kafka_conn, layout=layout)
    member = _member_home(tmp_path / "member", admin)
    await sync_registry(member, kafka_conn, layout=layout)
    now = dt.datetime.now(dt.UTC)

    # The Kafka operator deletes the revocation from the (compacted) topic: a tombstone.
    rev_key = f"ES-PN/revocations/{key_id}.rev"
    await _produce(kafka_conn, layout.federation, rev_key, None)
    with pytest.raises(RegistryManifestError) as missing:
        await sync_registry(member, kafka_conn, layout=layout)
    assert missing.value.reason == "bad-registry-manifest"
    assert f"missing: {rev_key}" in (missing.value.detail or "")
    newcomer = _member_home(tmp_path / "newcomer", admin)
    with pytest.raises(RegistryManifestError):
        await sync_registry(newcomer, kafka_conn, layout=layout)
    assert not home.registry_manifest(newcomer).exists()  # nothing written

    # ... then replays the genuine manifest from before the revocation as the newest one.
    await _produce(kafka_conn, layout.federation, MANIFEST_KEY, before_revocation)
    with pytest.raises(RegistryRollbackError):
        await sync_registry(member, kafka_conn, layout=layout)
    with pytest.raises(KeyRevokedError):  # the member still refuses the stolen key
        load_trust(member).signing_key(agency="ES-PN", key_id=key_id, at=now)
