"""Every path under the home directory, in one place.

A federation lives under one home directory (:class:`broker.config.Settings`)::

    agencies/federation-root.json                 root public keys (the trust anchor)
    agencies/<AGENCY>/profile.json                id and when it joined
    agencies/<AGENCY>/certificates/<key id>.cert  signed key certificates
    agencies/<AGENCY>/revocations/<key id>.rev    signed revocations
    agencies/audit-keys/<stream>.cert             root-certified audit stream keys
    agencies/registry.manifest                    root-signed index of all the above (versioned)
    keys/federation-root/root.key                 root private seeds          (0600)
    keys/<AGENCY>/<key id>.key                    agency private seeds        (0600)
    keys/audit/<stream>.key                       audit checkpoint key        (0600)
    state/<AGENCY>/state.db                       the agency's store (replay, inbox, sent)
    state/<AGENCY>/hub.db                         the hub's index (hub agency only)
    state/<stream>/audit.db                       the stream's audit journal
    state/<stream>/audit-checkpoint.note          newest signed checkpoint, outside Kafka
    state/trust/registry-seen.json                newest manifest version seen here (0600)

Nothing else in the package builds these paths by hand, so moving a file means
editing this module only.

Everything under ``state/`` holds plaintext or secrets (the decrypted inbox, the
hub's index of every agency's selectors, audit journals): it lives in 0700
directories (:func:`private_dir`) and is written 0600 (:func:`private_file`,
:func:`write_private`), and a looser mode found on an existing file or directory
is tightened when it is opened (red-team F12).

Example::

    >>> from broker.config import Settings
    >>> s = Settings(home="/srv/fed")
    >>> str(agency_db(s, "ES-PN")), str(audit_journal(s, "router"))
    ('/srv/fed/state/ES-PN/state.db', '/srv/fed/state/router/audit.db')
    >>> import tempfile
    >>> d = private_dir(Path(tempfile.mkdtemp()) / "state" / "ES-PN")
    >>> oct(d.stat().st_mode & 0o777), oct(d.parent.stat().st_mode & 0o777)
    ('0o700', '0o700')
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from broker.config import Settings

__all__ = [
    "ROOT_KEY_DIR",
    "agency_db",
    "agency_dir",
    "agency_key",
    "agency_keys_dir",
    "agency_profile",
    "audit_journal",
    "audit_key",
    "audit_key_cert",
    "audit_key_certs_dir",
    "certificates_dir",
    "checkpoint_copies",
    "checkpoint_copy",
    "hub_db",
    "private_dir",
    "private_file",
    "private_tree",
    "profiles",
    "registry_manifest",
    "registry_seen",
    "revocations_dir",
    "root_key",
    "root_public",
    "stream_state_dir",
    "write_private",
]

#: The root's private key directory under ``keys/`` (not an agency id: it has no hyphen).
ROOT_KEY_DIR = "federation-root"


# -- public material (agencies/) ----------------------------------------------------------


def root_public(settings: Settings) -> Path:
    """The federation root's public keys, the trust anchor."""
    return settings.agencies_dir / "federation-root.json"


def agency_dir(settings: Settings, agency: str) -> Path:
    """An agency's public directory."""
    return settings.agencies_dir / agency


def agency_profile(settings: Settings, agency: str) -> Path:
    """An agency's profile; its existence makes the agency a member."""
    return agency_dir(settings, agency) / "profile.json"


def profiles(settings: Settings) -> list[Path]:
    """Every member's profile, sorted."""
    return sorted(settings.agencies_dir.glob("*/profile.json"))


def certificates_dir(settings: Settings, agency: str) -> Path:
    """An agency's signed key certificates."""
    return agency_dir(settings, agency) / "certificates"


def revocations_dir(settings: Settings, agency: str) -> Path:
    """An agency's signed revocations."""
    return agency_dir(settings, agency) / "revocations"


def audit_key_certs_dir(settings: Settings) -> Path:
    """Root certificates of every audit stream key."""
    return settings.agencies_dir / "audit-keys"


def audit_key_cert(settings: Settings, stream: str) -> Path:
    """The root certificate of ``stream``'s audit key."""
    return audit_key_certs_dir(settings) / f"{stream}.cert"


def registry_manifest(settings: Settings) -> Path:
    """The root-signed registry manifest: every public registry file by SHA-256, versioned."""
    return settings.agencies_dir / "registry.manifest"


# -- private keys (keys/) -----------------------------------------------------------------


def root_key(settings: Settings) -> Path:
    """The federation root's private seeds."""
    return settings.keys_dir / ROOT_KEY_DIR / "root.key"


def agency_keys_dir(settings: Settings, agency: str) -> Path:
    """An agency's private key files."""
    return settings.keys_dir / agency


def agency_key(settings: Settings, agency: str, key_id: str) -> Path:
    """One private key file of an agency."""
    return agency_keys_dir(settings, agency) / f"{key_id}.key"


def audit_key(settings: Settings, stream: str) -> Path:
    """``stream``'s checkpoint-signing key."""
    return settings.keys_dir / "audit" / f"{stream}.key"


# -- runtime state (state/) ---------------------------------------------------------------


def stream_state_dir(settings: Settings, stream: str) -> Path:
    """The state directory of an agency or audit stream (also a witness's memory)."""
    return settings.state_dir / stream


def agency_db(settings: Settings, agency: str) -> Path:
    """The agency's store: replay window, inbox, sent envelopes, receipts."""
    return stream_state_dir(settings, agency) / "state.db"


def hub_db(settings: Settings, agency: str) -> Path:
    """The hub's cross-matching index, kept by the hub agency."""
    return stream_state_dir(settings, agency) / "hub.db"


def audit_journal(settings: Settings, stream: str) -> Path:
    """``stream``'s audit journal."""
    return stream_state_dir(settings, stream) / "audit.db"


def checkpoint_copy(settings: Settings, stream: str) -> Path:
    """The newest signed checkpoint of ``stream``, kept outside Kafka for auditors."""
    return stream_state_dir(settings, stream) / "audit-checkpoint.note"


def registry_seen(settings: Settings) -> Path:
    """The newest registry manifest version this home has accepted (its rollback memory).

    ``trust`` is lower case, so it never collides with an agency id.
    """
    return settings.state_dir / "trust" / "registry-seen.json"


def registry_lock(settings: Settings) -> Path:
    """The lock that keeps a reader of ``agencies/`` from seeing a registry half rewritten."""
    return settings.state_dir / "trust" / "registry.lock"


def checkpoint_copies(settings: Settings) -> list[Path]:
    """Every stream's newest checkpoint copy under this home, sorted."""
    return sorted(settings.state_dir.glob("*/audit-checkpoint.note"))


# -- modes of private state ---------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; tighten ``path`` itself if it exists.

    A shared directory (sticky bit, as ``/tmp``) or one owned by another user is never
    tightened: a state file put directly in it is 0600 itself, and making ``/tmp`` 0700
    locked every other user and service out of it (``apt`` among them).
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is filtered by the umask
    st = path.stat()
    if not (st.st_mode & stat.S_ISVTX) and st.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty 0600 in a private directory if missing; tighten it if it exists.

    An existing file is never opened here: it may be a SQLite database this process
    already has open, and closing *any* descriptor of a file drops every POSIX lock the
    process holds on it (fcntl locks are per process and file, not per descriptor).
    Another process could then think it is the last connection and delete the WAL
    that this process goes on writing to: committed transactions silently vanish.
    """
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    path.chmod(0o600)
    return path


def private_tree(path: Path) -> Path:
    """Tighten every directory under ``path`` (itself included) to 0700 and every file to 0600."""
    for root, dirs, files in os.walk(path):
        Path(root).chmod(0o700)
        for name in dirs:
            (Path(root) / name).chmod(0o700)
        for name in files:
            (Path(root) / name).chmod(0o600)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, 0600 in a private directory."""
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.chmod(0o600)
    tmp.replace(path)
