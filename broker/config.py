"""Settings: where the federation's files live and how to reach Kafka.

Every value comes from, in order: an explicit argument, an environment variable
(``BROKER_HOME``, ``KAFKA_BOOTSTRAP``, ``BROKER_TOPIC_PREFIX``, ``BROKER_CACHE_DIR``),
then a default. All state lives under one home directory (default: the current
directory) so several federations can coexist, e.g. one per test::

    home/
      agencies/   public agency profiles and certificates (committable)
      keys/       private keys, mode 0600 (never committed)
      state/      runtime state: local Kafka, de-duplication stores, hub index

Example::

    >>> from broker.config import Settings
    >>> s = Settings(home="/tmp/fed-example")
    >>> str(s.keys_dir)
    '/tmp/fed-example/keys'
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_cache_dir"]


def default_cache_dir() -> Path:
    """Return the per-user cache for downloaded artefacts (Kafka jars), outside any repo."""
    return Path.home() / ".cache" / "dossier-broker"


class Settings(BaseSettings):
    """Process-wide settings, read from the environment once and then frozen."""

    # BROKER_HOME, BROKER_TOPIC_PREFIX, BROKER_CACHE_DIR; KAFKA_BOOTSTRAP has no prefix.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="BROKER_")

    home: Path = Field(default_factory=Path.cwd)
    kafka_bootstrap: str | None = Field(
        default=None, validation_alias=AliasChoices("kafka_bootstrap", "KAFKA_BOOTSTRAP")
    )
    topic_prefix: str = "fed"
    cache_dir: Path = Field(default_factory=default_cache_dir)

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        if not value or not set(value) <= allowed:
            msg = "topic prefix must be non-empty ASCII letters, digits, '-' or '_'"
            raise ValueError(msg)
        return value

    @property
    def agencies_dir(self) -> Path:
        """Public agency profiles and certificates."""
        return self.home / "agencies"

    @property
    def keys_dir(self) -> Path:
        """Private key material (mode 0600 files)."""
        return self.home / "keys"

    @property
    def state_dir(self) -> Path:
        """Runtime state: local Kafka record, de-duplication stores, hub index."""
        return self.home / "state"
