"""The trust store: which agency key may do what, when.

Built from verified certificates and revocations (see
:mod:`broker.trust.certificates`). Every lookup names the time it is asked
about — envelopes are verified with the key valid at their ``created_at`` — and
fails closed with its own error type:

* :class:`UnknownAgencyError` — not a member;
* :class:`UnknownKeyError` — no certificate with that key id;
* :class:`WrongKeyUsageError` — certified for the other usage;
* :class:`KeyRevokedError` — revoked as COMPROMISED or WITHDRAWN, for *any* time
  (a thief holding the key can back-date);
* :class:`KeyExpiredError` — outside the validity window, or SUPERSEDED by a
  rotation before that time;
* :class:`KeyNotYetValidError` — before ``not_before``.

Example::

    >>> from broker.trust.testing import UnsafeTestFederation
    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> key = fed.trust.encryption_key(agency="DE-BKA", at=fed.now)
    >>> key.agency
    'DE-BKA'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from broker.errors import (
    KeyExpiredError,
    KeyNotYetValidError,
    KeyRevokedError,
    UnknownAgencyError,
    UnknownKeyError,
    WrongKeyUsageError,
)
from broker.trust.certificates import (
    Certificate,
    RevocationRecord,
    RootPublicKeys,
    verify_certificate,
    verify_revocation,
)
from broker.trust.keys import EncryptionPublicKeys, SigningPublicKeys
from broker.trust.members import Member, default_kind

__all__ = ["AgencyProfile", "TrustStore"]


@dataclass(frozen=True, kw_only=True)
class AgencyProfile:
    """A federation member and its certificates (newest first per usage)."""

    agency: str
    certificates: list[Certificate] = field(default_factory=list)


class TrustStore:
    """Verified certificates and revocations of one federation."""

    def __init__(
        self,
        *,
        root: RootPublicKeys,
        certificates: Iterable[Certificate],
        revocations: Iterable[RevocationRecord],
        agencies: Iterable[str] = (),
        members: Iterable[Member] = (),
    ) -> None:
        self.root = root
        # Kind and country of each member, from its root-signed profile (broker.trust.members).
        self._members: dict[str, Member] = {m.agency: m for m in members}
        self._certs: dict[tuple[str, str], Certificate] = {}
        self._agencies: set[str] = set(agencies)
        for cert in certificates:
            self._certs[(cert.agency, cert.key_id)] = cert
            self._agencies.add(cert.agency)
        self._revoked: dict[tuple[str, str], RevocationRecord] = {}
        for rev in revocations:
            key = (rev.agency, rev.key_id)
            previous = self._revoked.get(key)
            # A compromise revocation outranks a rotation's retirement of the same key.
            if previous is None or (previous.kind == "SUPERSEDED" and rev.kind != "SUPERSEDED"):
                self._revoked[key] = rev
        # Agency profiles, computed once (the store never changes): certificates newest
        # first, so a lookup no longer scans and sorts every certificate of the federation.
        by_agency: dict[str, list[Certificate]] = {a: [] for a in self._agencies}
        for (agency, _), cert in self._certs.items():
            by_agency[agency].append(cert)
        self._profiles: dict[str, tuple[Certificate, ...]] = {
            a: tuple(sorted(certs, key=lambda c: c.not_before, reverse=True))
            for a, certs in by_agency.items()
        }
        # Lookup caches: the answer for (agency, key id) only changes with a new store.
        self._signing_cache: dict[tuple[str, str], SigningPublicKeys] = {}
        self._encryption_cache: dict[tuple[str, str], EncryptionPublicKeys] = {}

    @classmethod
    def from_signed(
        cls,
        *,
        root: RootPublicKeys,
        certificates: Iterable[bytes],
        revocations: Iterable[bytes],
        agencies: Iterable[str] = (),
        members: Iterable[Member] = (),
    ) -> TrustStore:
        """Verify signed statements against ``root`` and build the store (fail closed)."""
        return cls(
            root=root,
            certificates=[verify_certificate(c, root=root) for c in certificates],
            revocations=[verify_revocation(r, root=root) for r in revocations],
            agencies=agencies,
            members=members,
        )

    def agency_ids(self) -> list[str]:
        """Return every member agency id, sorted."""
        return sorted(self._agencies)

    def member(self, agency: str) -> Member:
        """Return a member's kind and country; raise UnknownAgencyError if it is not one."""
        self._certificates_of(agency)
        return self._members.get(agency) or Member(agency=agency, kind=default_kind(agency))

    def members(self) -> dict[str, Member]:
        """Return every member's kind and country, by agency id."""
        return {agency: self.member(agency) for agency in self.agency_ids()}

    def require_agency(self, agency: str) -> AgencyProfile:
        """Return the agency's profile; raise UnknownAgencyError if it is not a member."""
        return AgencyProfile(agency=agency, certificates=list(self._certificates_of(agency)))

    def _certificates_of(self, agency: str) -> tuple[Certificate, ...]:
        certs = self._profiles.get(agency)
        if certs is None:
            raise UnknownAgencyError("unknown agency", detail=f"{agency!r} is not a member")
        return certs

    def revocation(self, agency: str, key_id: str) -> RevocationRecord | None:
        """Return the revocation of a key, if any."""
        return self._revoked.get((agency, key_id))

    def _check(self, cert: Certificate, *, usage: str, at: dt.datetime) -> None:
        where = f"{cert.agency}/{cert.key_id}"
        if cert.usage != usage:
            raise WrongKeyUsageError(
                "key not certified for this usage", detail=f"{where} is {cert.usage}, not {usage}"
            )
        rev = self._revoked.get((cert.agency, cert.key_id))
        if rev is not None:
            if rev.kind != "SUPERSEDED":
                raise KeyRevokedError(
                    "key revoked", detail=f"{where} {rev.kind} at {rev.revoked_at}: {rev.reason}"
                )
            if at >= rev.revoked_at:
                raise KeyExpiredError(
                    "key superseded by rotation", detail=f"{where} retired at {rev.revoked_at}"
                )
        if at < cert.not_before:
            raise KeyNotYetValidError("key not yet valid", detail=f"{where} from {cert.not_before}")
        if at > cert.not_after:
            raise KeyExpiredError("key expired", detail=f"{where} until {cert.not_after}")

    def _cert(self, agency: str, key_id: str) -> Certificate:
        self._certificates_of(agency)
        cert = self._certs.get((agency, key_id))
        if cert is None:
            raise UnknownKeyError("unknown key", detail=f"{agency} has no key {key_id!r}")
        return cert

    def signing_key(self, *, agency: str, key_id: str, at: dt.datetime) -> SigningPublicKeys:
        """Return the signing keys ``agency``/``key_id`` if valid at ``at``."""
        cert = self._cert(agency, key_id)
        self._check(cert, usage="SIGN", at=at)
        cached = self._signing_cache.get((agency, key_id))
        if cached is None:
            cached = self._signing_cache[(agency, key_id)] = cert.signing_keys()
        return cached

    def encryption_key(
        self, *, agency: str, at: dt.datetime, key_id: str | None = None
    ) -> EncryptionPublicKeys:
        """Return ``agency``'s encryption keys valid at ``at`` (the newest, unless ``key_id``)."""
        if key_id is not None:
            cert = self._cert(agency, key_id)
        else:
            candidates = [c for c in self._certificates_of(agency) if c.usage == "ENCRYPT"]
            if not candidates:
                raise UnknownKeyError("no encryption key", detail=f"{agency} has none")
            usable = [c for c in candidates if self._usable(c, at)]
            cert = usable[0] if usable else candidates[0]  # the newest, to raise its error
        self._check(cert, usage="ENCRYPT", at=at)
        cached = self._encryption_cache.get((agency, cert.key_id))
        if cached is None:
            cached = self._encryption_cache[(agency, cert.key_id)] = cert.encryption_keys()
        return cached

    def current_signing_key_id(self, agency: str, *, at: dt.datetime) -> str:
        """Return the key id of ``agency``'s newest signing key valid at ``at``."""
        for cert in self._certificates_of(agency):
            if cert.usage == "SIGN" and self._usable(cert, at):
                return cert.key_id
        raise UnknownKeyError("no valid signing key", detail=f"{agency} at {at}")

    def _usable(self, cert: Certificate, at: dt.datetime) -> bool:
        try:
            self._check(cert, usage=cert.usage, at=at)
        except (KeyRevokedError, KeyExpiredError, KeyNotYetValidError):
            return False
        return True
