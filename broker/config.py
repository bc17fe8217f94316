"""Settings: where the federation's files live and how to reach Kafka.

Every value comes from, in order: an explicit argument, an environment variable
(``BROKER_HOME``, ``KAFKA_BOOTSTRAP``, ``BROKER_TOPIC_PREFIX``, ``BROKER_CACHE_DIR``,
``BROKER_INBOX_RETENTION_DAYS``, ``BROKER_OUTBOX_RETENTION_DAYS``,
``BROKER_REJECTED_RETENTION_DAYS``, ``BROKER_MAX_TRANSIT_HOURS``,
``BROKER_KEY_GRACE_DAYS``), then a default. Retention is in days, -1 for never (see
:mod:`broker.retention`; audit and federation topics never expire). The two
back-dating windows of finding F10 (see :class:`broker.envelope.Verifier`): the
router refuses an envelope created more than ``max_transit`` before it saw it
(``stale``), and a consumer accepts a sender key retired (rotated out or expired)
at most ``key_grace`` before it receives the envelope.

All state lives under one home directory (default: the current directory) so several
federations can coexist, e.g. one per test::

    home/
      agencies/   public agency profiles and certificates (committable)
      keys/       private keys, mode 0600 (never committed)
      state/      runtime state: local Kafka, de-duplication stores, hub index

Example::

    >>> from broker.config import Settings
    >>> s = Settings(home="/tmp/fed-example")
    >>> str(s.keys_dir)
    '/tmp/fed-example/keys'
    >>> s.retention.inbox_ms // 86_400_000, s.retention.rejected_ms
    (90, -1)
    >>> str(s.max_transit), str(Settings(key_grace_days=0.5).key_grace)
    ('1 day, 0:00:00', '12:00:00')
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker.retention import DAY_MS, NEVER, Retention

__all__ = ["Settings", "default_cache_dir"]


#: No F10 window is longer than an envelope may live (``MAX_LIFETIME``, 400 days).
_MAX_WINDOW_DAYS = 400


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
    # Well above any expected outage of an agency or the router; -1 keeps records forever.
    inbox_retention_days: float = 90
    outbox_retention_days: float = 90
    rejected_retention_days: float = -1
    # F10 windows; the defaults are broker.envelope's DEFAULT_MAX_TRANSIT and DEFAULT_KEY_GRACE
    # (tests/test_config.py keeps them equal: importing broker.envelope here would be a cycle).
    max_transit_hours: float = 24
    key_grace_days: float = 7

    @field_validator("max_transit_hours")
    @classmethod
    def _check_max_transit(cls, value: float) -> float:
        # Zero would refuse every envelope; no bound at all is what F10 forbids.
        if not (math.isfinite(value) and 0 < value <= _MAX_WINDOW_DAYS * 24):
            msg = f"BROKER_MAX_TRANSIT_HOURS must be a positive number of hours, not {value}"
            raise ValueError(msg)
        return value

    @field_validator("key_grace_days")
    @classmethod
    def _check_key_grace(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 <= value <= _MAX_WINDOW_DAYS):
            msg = f"BROKER_KEY_GRACE_DAYS must be zero or a positive number of days, not {value}"
            raise ValueError(msg)
        return value

    #: Largest streamed dossier (plaintext bytes) sent or accepted: 2 GiB by default.
    max_dossier_bytes: int = Field(default=2 * 1024**3, gt=0)
    #: Seconds a streamed dossier's parts wait for their manifest before ``incomplete``.
    stream_timeout_s: float = Field(default=3600.0, gt=0)
    #: Federation default retention review period: a holder erases a dossier this long after
    #: receiving it (or at its own earlier review date) unless its owner extended it.
    review_period_s: float = Field(default=5 * 365 * 86400.0, gt=0)
    #: Multiplies the request time limits of Directive 2023/977 (8 h, 3 d, 7 d): below 1 a
    #: compressed clock, for tests and the demo only (BROKER_REQUEST_TIME_SCALE).
    request_time_scale: float = Field(default=1.0, gt=0, le=1)
    #: Seconds between two deadline checks of a running inbox (broker.requests).
    request_check_s: float = Field(default=30.0, gt=0)

    @field_validator("inbox_retention_days", "outbox_retention_days", "rejected_retention_days")
    @classmethod
    def _check_retention(cls, value: float) -> float:
        if value != -1 and value <= 0:
            msg = "retention must be a positive number of days, or -1 for never"
            raise ValueError(msg)
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        if not value or not set(value) <= allowed:
            msg = "topic prefix must be non-empty ASCII letters, digits, '-' or '_'"
            raise ValueError(msg)
        return value

    @property
    def retention(self) -> Retention:
        """Per-topic retention to create (and keep) the federation's topics with."""

        def ms(days: float) -> int:
            return NEVER if days == -1 else max(1, round(days * DAY_MS))

        return Retention(
            inbox_ms=ms(self.inbox_retention_days),
            outbox_ms=ms(self.outbox_retention_days),
            rejected_ms=ms(self.rejected_retention_days),
        )

    @property
    def max_transit(self) -> dt.timedelta:
        """How long before the router saw it an envelope may have been created."""
        return dt.timedelta(hours=self.max_transit_hours)

    @property
    def key_grace(self) -> dt.timedelta:
        """How long after its sender key was retired a consumer still accepts an envelope."""
        return dt.timedelta(days=self.key_grace_days)

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
