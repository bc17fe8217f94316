"""An in-memory federation for tests: real keys, real signatures, nothing on disk.

``Unsafe`` because private keys live in memory without protection; never use it
outside tests.

Example::

    >>> fed = UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])
    >>> fed.identity("ES-PN").agency
    'ES-PN'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from broker.trust.certificates import FederationRoot
from broker.trust.keys import AgencyIdentity, DecryptionKeyPair, SigningKeyPair
from broker.trust.registry import TrustStore

__all__ = ["UnsafeTestFederation"]


@dataclass
class UnsafeTestFederation:
    """A federation root, its agencies' identities and the trust store they share."""

    root: FederationRoot
    now: dt.datetime
    identities: dict[str, AgencyIdentity] = field(default_factory=dict)
    certificates: list[bytes] = field(default_factory=list)
    revocations: list[bytes] = field(default_factory=list)
    trust: TrustStore = field(init=False)
    _serial: int = 0

    @classmethod
    def create(
        cls, *, agencies: list[str], now: dt.datetime | None = None, days: int = 365
    ) -> UnsafeTestFederation:
        """Create a root and one signing + one encryption key set per agency."""
        fed = cls(root=FederationRoot.generate(), now=now or dt.datetime.now(dt.UTC))
        for agency in agencies:
            fed.add_keys(agency, not_before=fed.now - dt.timedelta(days=1), days=days)
        fed.refresh()
        return fed

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self._serial:04d}"

    def add_keys(self, agency: str, *, not_before: dt.datetime, days: int) -> AgencyIdentity:
        """Certify a new signing and encryption key set for ``agency`` (it becomes current)."""
        sig = SigningKeyPair.generate(agency=agency, key_id=self._next_id("sig"))
        enc = DecryptionKeyPair.generate(agency=agency, key_id=self._next_id("enc"))
        self.certificates.append(
            self.root.certify_signing(sig.public(), not_before=not_before, days=days)
        )
        self.certificates.append(
            self.root.certify_encryption(enc.public(), not_before=not_before, days=days)
        )
        old = self.identities.get(agency)
        decryption = dict(old.decryption) if old else {}
        decryption[enc.key_id] = enc
        ident = AgencyIdentity(agency=agency, signing=sig, decryption=decryption)
        self.identities[agency] = ident
        return ident

    def rotate(self, agency: str, *, at: dt.datetime) -> AgencyIdentity:
        """Rotate ``agency``'s keys at ``at``: old ones retired (SUPERSEDED) from then."""
        old = self.identities[agency]
        for key_id in [old.signing.key_id, *old.decryption]:
            self.revocations.append(
                self.root.revoke(
                    agency=agency, key_id=key_id, kind="SUPERSEDED", revoked_at=at, reason="rotated"
                )
            )
        ident = self.add_keys(agency, not_before=at, days=365)
        self.refresh()
        return ident

    def revoke(self, agency: str, key_id: str, *, at: dt.datetime | None = None) -> None:
        """Revoke a key as COMPROMISED."""
        self.revocations.append(
            self.root.revoke(
                agency=agency,
                key_id=key_id,
                kind="COMPROMISED",
                revoked_at=at or self.now,
                reason="test",
            )
        )
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the trust store from the signed statements (verifying each)."""
        self.trust = TrustStore.from_signed(
            root=self.root.public(), certificates=self.certificates, revocations=self.revocations
        )

    def identity(self, agency: str) -> AgencyIdentity:
        """Return an agency's private identity."""
        return self.identities[agency]
