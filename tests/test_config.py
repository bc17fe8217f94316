"""Settings: the F10 back-dating windows are configurable, validated and passed through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from broker.agency import AgencyNode
from broker.cli._common import settings_for
from broker.config import Settings
from broker.envelope import DEFAULT_KEY_GRACE, DEFAULT_MAX_TRANSIT
from broker.errors import ConfigError
from broker.federation import init_federation
from broker.transport import KafkaConnection


def test_f10_windows_default_to_the_verifier_defaults() -> None:
    settings = Settings()
    assert (settings.max_transit, settings.key_grace) == (DEFAULT_MAX_TRANSIT, DEFAULT_KEY_GRACE)


def test_f10_windows_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_MAX_TRANSIT_HOURS", "2.5")
    monkeypatch.setenv("BROKER_KEY_GRACE_DAYS", "0")
    settings = settings_for(None)
    assert settings.max_transit == dt.timedelta(hours=2, minutes=30)
    assert settings.key_grace == dt.timedelta(0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BROKER_MAX_TRANSIT_HOURS", "0"),
        ("BROKER_MAX_TRANSIT_HOURS", "-1"),
        ("BROKER_MAX_TRANSIT_HOURS", "nan"),
        ("BROKER_MAX_TRANSIT_HOURS", "inf"),
        ("BROKER_KEY_GRACE_DAYS", "-0.5"),
        ("BROKER_KEY_GRACE_DAYS", "1e9"),
    ],
)
def test_an_unusable_f10_window_is_a_config_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        settings_for(None)
    assert refused.value.reason == "config"
    assert variable in (refused.value.detail or "")


def test_agency_node_takes_its_key_grace_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, key_grace_days=0.25)
    init_federation(settings, agencies=["ES-PN", "DE-BKA"])
    conn = KafkaConnection(bootstrap="localhost:1", client_id="unused")  # never started
    node = AgencyNode.load(settings, agency="DE-BKA", conn=conn)
    try:
        assert node._inbox._verifier.key_grace == dt.timedelta(hours=6)
    finally:
        node.store.close()
