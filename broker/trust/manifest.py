"""The registry manifest: the public registry is exactly what the federation root listed.

Certificates and revocations are each signed, but a directory of signed files
fails open: whoever can suppress one ``.rev`` file in the distribution of
``agencies/`` (a mirror, a sync job, a repository edit) silently brings a
compromised key back. So the root also signs a *manifest*
(``eu.fed.trust.RegistryManifest``, statement type ``fed-registry-manifest-v1``):
a version number, the issue time, the member list and the SHA-256 of every
registry file. Every administrative act (init, add, rotate, revoke, remove)
issues the next version.

:func:`load_registry` refuses, with :class:`~broker.errors.RegistryManifestError`:

* a missing manifest, or one that does not verify against the root;
* a listed file that is missing or whose bytes differ;
* an *unlisted* registry file (a profile, certificate, revocation or audit-key
  certificate the manifest does not name). Refused rather than ignored: an
  unlisted revocation means this copy and its manifest disagree, and quietly
  dropping a root-signed revocation is exactly the failure this module exists to
  prevent. Files the loader never reads (``README.md``, the anchor) are ignored;

and with :class:`~broker.errors.RegistryRollbackError` a manifest older than the
newest this home has accepted, or a different manifest under that same version
(a fork). The newest accepted version and the manifest's hash are remembered in
``state/trust/registry-seen.json`` (0600, under a lock: many processes load trust
at once). A home that has never seen a newer manifest cannot tell an old one
from the newest: distribution over the federation topic
(:mod:`broker.trust.distribution`) narrows that window, an outside copy of the
newest version closes it.

Example::

    >>> import tempfile
    >>> from broker.config import Settings
    >>> from broker.federation import init_federation
    >>> s = Settings(home=tempfile.mkdtemp())
    >>> _ = init_federation(s, agencies=["ES-PN"])
    >>> reg = load_registry(s)
    >>> reg.manifest.members, reg.manifest.version >= 1
    (['ES-PN'], True)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker import home
from broker.config import Settings
from broker.errors import (
    CertificateError,
    ConfigError,
    RegistryManifestError,
    RegistryRollbackError,
)
from broker.trust.certificates import (
    FederationRoot,
    RegistryManifest,
    RootPublicKeys,
    verify_manifest,
)
from broker.trust.lock import flocked, registry_lock
from broker.trust.members import members_of
from broker.trust.registry import TrustStore

__all__ = [
    "REGISTRY_PATTERNS",
    "VerifiedRegistry",
    "check_registry",
    "load_registry",
    "open_manifest",
    "read_root_public",
    "registry_files",
    "remember_manifest",
    "seen_manifest",
    "sign_registry",
]

#: The files under ``agencies/`` that the loaders read, hence that the manifest must list.
REGISTRY_PATTERNS = (
    "*/profile.json",
    "*/certificates/*.cert",
    "*/revocations/*.rev",
    "audit-keys/*.cert",
)


@dataclass(frozen=True, kw_only=True)
class VerifiedRegistry:
    """The public registry after its manifest checked out: use these bytes, not the disk's."""

    root: RootPublicKeys
    manifest: RegistryManifest
    manifest_bytes: bytes
    files: dict[str, bytes]

    def _matching(self, part: str, suffix: str) -> list[bytes]:
        return [
            data
            for path, data in sorted(self.files.items())
            if path.split("/")[1:2] == [part] and path.endswith(suffix)
        ]

    def trust_store(self) -> TrustStore:
        """Verify every certificate and revocation and build the trust store (fail closed)."""
        return TrustStore.from_signed(
            root=self.root,
            certificates=self._matching("certificates", ".cert"),
            revocations=self._matching("revocations", ".rev"),
            agencies=self.manifest.members,
            members=members_of(self.files).values(),
        )

    def audit_key_certificates(self) -> list[tuple[str, bytes]]:
        """Return ``(path, bytes)`` of every listed audit-key certificate, sorted."""
        return sorted((p, d) for p, d in self.files.items() if p.startswith("audit-keys/"))


def read_root_public(settings: Settings) -> RootPublicKeys:
    """Read the trust anchor ``agencies/federation-root.json``."""
    path = home.root_public(settings)
    try:
        raw = json.loads(path.read_text())
        return RootPublicKeys.from_raw(
            {k: base64.b64decode(v.encode("ascii"), validate=True) for k, v in raw.items()}
        )
    except FileNotFoundError:
        raise ConfigError(
            "no federation here", detail=f"{path} missing: run `broker federation init`"
        ) from None
    except (OSError, ValueError, AttributeError) as exc:
        raise CertificateError("unreadable federation root", detail=str(path)) from exc


def registry_files(settings: Settings) -> dict[str, bytes]:
    """Return every registry file under ``agencies/`` by its '/'-separated relative path."""
    base = settings.agencies_dir
    out: dict[str, bytes] = {}
    for pattern in REGISTRY_PATTERNS:
        for path in sorted(base.glob(pattern)):
            if path.is_file():
                out[path.relative_to(base).as_posix()] = path.read_bytes()
    return out


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def check_registry(manifest: RegistryManifest, files: dict[str, bytes]) -> None:
    """Raise RegistryManifestError unless ``files`` are exactly what ``manifest`` lists."""
    missing = sorted(set(manifest.files) - set(files))
    unlisted = sorted(set(files) - set(manifest.files))
    altered = sorted(
        p for p in set(files) & set(manifest.files) if _digest(files[p]) != manifest.files[p]
    )
    problems = [
        f"{what}: {', '.join(paths)}"
        for what, paths in (("missing", missing), ("altered", altered), ("unlisted", unlisted))
        if paths
    ]
    if problems:
        raise RegistryManifestError(
            "public registry does not match its signed manifest",
            detail=f"manifest version {manifest.version}; " + "; ".join(problems),
        )


@contextlib.contextmanager
def _seen_lock(settings: Settings) -> Iterator[Path]:
    path = home.registry_seen(settings)
    # Without its memory a home could be rolled back unnoticed: refuse, do not skip.
    with flocked(path.with_suffix(".lock"), exclusive=True, what="the registry memory"):
        yield path


def _read_seen(path: Path) -> tuple[int, str]:
    try:
        doc = json.loads(path.read_text())
        return int(doc["version"]), str(doc["sha256"])
    except FileNotFoundError:
        return 0, ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RegistryManifestError("unreadable registry memory", detail=str(path)) from exc


def seen_manifest(settings: Settings) -> int:
    """Return the newest manifest version this home has accepted (0: none yet)."""
    with _seen_lock(settings) as path:
        return _read_seen(path)[0]


def remember_manifest(
    settings: Settings, manifest: RegistryManifest, data: bytes, *, record: bool = True
) -> None:
    """Refuse a rollback or fork of what this home has seen; else remember ``manifest``."""
    digest = _digest(data).hex()
    with _seen_lock(settings) as path:
        version, seen_digest = _read_seen(path)
        if manifest.version < version:
            raise RegistryRollbackError(
                "registry manifest is older than one already seen",
                detail=f"version {manifest.version} < {version} seen in {path}",
            )
        if manifest.version == version and digest != seen_digest:
            raise RegistryRollbackError(
                "registry manifest forks one already seen",
                detail=f"another manifest with version {version} was seen ({path})",
            )
        if record and manifest.version > version:
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({"version": manifest.version, "sha256": digest}, fh)
            tmp.replace(path)


def open_manifest(data: bytes, *, root: RootPublicKeys) -> RegistryManifest:
    """Verify manifest bytes against the root, as a RegistryManifestError if they fail."""
    try:
        return verify_manifest(data, root=root)
    except CertificateError as exc:
        raise RegistryManifestError(
            "registry manifest does not verify", detail=exc.diagnostics()
        ) from exc


def load_registry(settings: Settings) -> VerifiedRegistry:
    """Load the public registry, verified against the root-signed manifest (fail closed)."""
    root = read_root_public(settings)
    path = home.registry_manifest(settings)
    with registry_lock(settings, write=False):  # no writer halfway through (trust.lock)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RegistryManifestError(
                "no registry manifest",
                detail=f"{path} missing: run `broker federation sync`, or on the root's home "
                "`broker federation manifest --sign` for a registry made before manifests",
            ) from None
        manifest = open_manifest(data, root=root)
        remember_manifest(settings, manifest, data, record=False)  # a rollback says so first
        files = registry_files(settings)
        check_registry(manifest, files)
        remember_manifest(settings, manifest, data)
    return VerifiedRegistry(root=root, manifest=manifest, manifest_bytes=data, files=files)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def sign_registry(settings: Settings, root: FederationRoot) -> RegistryManifest:
    """Sign the next manifest version over the registry files as they are now; write it."""
    with registry_lock(settings, write=True):
        return _sign_registry(settings, root)


def _sign_registry(settings: Settings, root: FederationRoot) -> RegistryManifest:
    version = seen_manifest(settings)
    with contextlib.suppress(OSError, RegistryManifestError):
        current = open_manifest(home.registry_manifest(settings).read_bytes(), root=root.public())
        version = max(version, current.version)
    files = registry_files(settings)
    members = sorted(p.parent.name for p in home.profiles(settings))
    data = root.sign_manifest(
        version=version + 1, members=members, files={p: _digest(d) for p, d in files.items()}
    )
    manifest = open_manifest(data, root=root.public())
    _write_atomic(home.registry_manifest(settings), data)
    remember_manifest(settings, manifest, data)
    return manifest
