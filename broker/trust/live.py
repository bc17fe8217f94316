"""A trust store that follows the registry on disk: members join a RUNNING federation.

The router and the hub build their :class:`LiveTrust` once; every lookup first
checks (at most every ``interval`` seconds, and at once when the lookup would
fail for an unknown agency or key) whether the root-signed registry manifest
changed — ``broker agency add`` or ``broker federation sync`` rewrote it — and,
if so, loads and verifies the new registry (:func:`broker.trust.manifest.load_registry`,
fail closed: a registry that does not check out is logged and the previous one kept).
No restart: the next envelope from or to the new member is judged by the new registry.

Example::

    >>> import tempfile
    >>> from broker.config import Settings
    >>> from broker.federation import add_agency, init_federation
    >>> s = Settings(home=tempfile.mkdtemp())
    >>> _ = init_federation(s, agencies=["ES-PN", "EUROPOL"])
    >>> live = LiveTrust.watch(s)
    >>> add_agency(s, agency="HR-CNZD", kind="hotline", country="HR")
    >>> live.agency_ids(), live.members()["HR-CNZD"].kind.value
    (['ES-PN', 'EUROPOL', 'HR-CNZD'], 'hotline')
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from broker import home
from broker.config import Settings
from broker.errors import Error, UnknownAgencyError, UnknownKeyError
from broker.trust.certificates import RevocationRecord
from broker.trust.keys import EncryptionPublicKeys, SigningPublicKeys
from broker.trust.manifest import load_registry
from broker.trust.members import Member
from broker.trust.registry import AgencyProfile, TrustStore

__all__ = ["LiveTrust"]

log = logging.getLogger(__name__)


class LiveTrust(TrustStore):
    """A :class:`TrustStore` reloaded whenever the home's registry manifest changes."""

    def __init__(self, *, settings: Settings, interval: float = 0.5) -> None:
        # No super().__init__: every lookup delegates to the current verified store.
        self._settings = settings
        self._interval = interval
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self._store = self._load()
        self.root = self._store.root
        self.reloads = 0

    @classmethod
    def watch(cls, settings: Settings, *, interval: float = 0.5) -> LiveTrust:
        """Load the registry of ``settings``' home and follow it."""
        return cls(settings=settings, interval=interval)

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = home.registry_manifest(self._settings).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _load(self) -> TrustStore:
        stamp = self._manifest_stamp()
        loaded = load_registry(self._settings).trust_store()
        self._stamp = stamp  # only once it checked out: a failed load is tried again
        return loaded

    def refresh(self, *, force: bool = False) -> bool:
        """Reload if the manifest changed (checked at most every ``interval`` s unless forced)."""
        now = time.monotonic()
        if not force and now - self._checked < self._interval:
            return False
        self._checked = now
        if self._manifest_stamp() == self._stamp:
            return False
        try:
            self._store = self._load()
        except Error as exc:  # fail closed: keep judging by the registry that checked out
            log.warning("registry changed but does not verify: %s", exc.diagnostics())
            return False
        self.root = self._store.root
        self.reloads += 1
        log.info("registry reloaded: %d members", len(self._store.agency_ids()))
        return True

    def _current(self) -> TrustStore:
        self.refresh()
        return self._store

    def members(self) -> dict[str, Member]:
        """Return every member (kind, country) by agency id."""
        return self._current().members()

    def member(self, agency: str) -> Member:
        """Return one member's kind and country (reloading once if it is unknown)."""
        try:
            return self._current().member(agency)
        except UnknownAgencyError:
            if not self.refresh(force=True):
                raise
            return self._store.member(agency)

    def agency_ids(self) -> list[str]:
        """Return every member agency id, sorted."""
        return self._current().agency_ids()

    def require_agency(self, agency: str) -> AgencyProfile:
        """Return the agency's profile (reloading once if it is unknown)."""
        try:
            return self._current().require_agency(agency)
        except UnknownAgencyError:
            if not self.refresh(force=True):
                raise
            return self._store.require_agency(agency)

    def revocation(self, agency: str, key_id: str) -> RevocationRecord | None:
        """Return the revocation of a key, if any."""
        return self._current().revocation(agency, key_id)

    def signing_key(self, *, agency: str, key_id: str, at: dt.datetime) -> SigningPublicKeys:
        """Return the signing keys ``agency``/``key_id`` valid at ``at`` (reloading once)."""
        try:
            return self._current().signing_key(agency=agency, key_id=key_id, at=at)
        except (UnknownAgencyError, UnknownKeyError):
            if not self.refresh(force=True):
                raise
            return self._store.signing_key(agency=agency, key_id=key_id, at=at)

    def encryption_key(
        self, *, agency: str, at: dt.datetime, key_id: str | None = None
    ) -> EncryptionPublicKeys:
        """Return ``agency``'s encryption keys valid at ``at`` (reloading once)."""
        try:
            return self._current().encryption_key(agency=agency, at=at, key_id=key_id)
        except (UnknownAgencyError, UnknownKeyError):
            if not self.refresh(force=True):
                raise
            return self._store.encryption_key(agency=agency, at=at, key_id=key_id)

    def current_signing_key_id(self, agency: str, *, at: dt.datetime) -> str:
        """Return the key id of ``agency``'s newest signing key valid at ``at``."""
        return self._current().current_signing_key_id(agency, at=at)
