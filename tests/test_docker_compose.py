"""docker-compose.yml stays consistent with the pinned Kafka and the repository's files."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.config import Settings
from broker.local.jars import kafka_version
from broker.local.properties import OFFSETS_RETENTION_MINUTES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _kafka_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("apache/kafka:")
    }


def test_kafka_image_matches_the_pinned_version(compose: dict[str, Any]) -> None:
    images = {svc["image"] for svc in _kafka_services(compose).values()}
    assert images == {f"apache/kafka:{kafka_version()}"}


def test_three_kraft_brokers_with_consistent_quorum(compose: dict[str, Any]) -> None:
    brokers = _kafka_services(compose)
    assert len(brokers) == 3
    ids = {int(svc["environment"]["KAFKA_NODE_ID"]) for svc in brokers.values()}
    assert ids == {1, 2, 3}
    for name, svc in brokers.items():
        env = svc["environment"]
        voters = dict(v.split("@") for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
        assert {int(k) for k in voters} == ids
        assert voters[env["KAFKA_NODE_ID"]].split(":")[0] == svc["hostname"] == name
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        assert f"{controller}://" in env["KAFKA_LISTENERS"]
        assert voters[env["KAFKA_NODE_ID"]].split(":")[1] in env["KAFKA_LISTENERS"]
        assert env["KAFKA_ADVERTISED_LISTENERS"].startswith(f"PLAINTEXT://{name}:")
        # Kafka's Uuid: URL-safe base64 of 16 bytes, no padding, the same on every node.
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
        assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
        assert "healthcheck" in svc
    assert len({svc["environment"]["CLUSTER_ID"] for svc in brokers.values()}) == 1


def test_services_reference_files_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"router", "hub", "otel-collector"} <= set(services)
    assert (ROOT / "Dockerfile").is_file()
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                # keys/ holds generated material that is never committed; its README is.
                if source.startswith("./keys/"):
                    assert (ROOT / "keys").is_dir()
                else:
                    assert (ROOT / source).exists(), source


def test_python_services_use_commands_the_cli_has(compose: dict[str, Any]) -> None:
    from typer.main import get_command

    from broker.cli import app

    cli = get_command(app)
    for name in ("router", "hub", "agency-es-pn"):
        command = compose["services"][name]["command"][0]
        assert command in cli.commands, f"{name}: broker {command} does not exist"  # type: ignore[attr-defined]


def test_group_offsets_outlive_the_inbox_retention_so_an_idle_agency_keeps_its_place(
    compose: dict[str, Any],
) -> None:
    """Offsets expiring before the inbox would hide an expired-unread gap (issue 13)."""
    inbox_days = Settings().inbox_retention_days
    for svc in _kafka_services(compose).values():
        minutes = int(svc["environment"]["KAFKA_OFFSETS_RETENTION_MINUTES"])
        assert minutes == OFFSETS_RETENTION_MINUTES
        assert minutes > 2 * inbox_days * 24 * 60
