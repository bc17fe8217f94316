"""Federation administration: create the root, add, rotate, revoke and remove members.

This is the only writer of the ``federation`` audit stream: every administrative
act is journaled there (AGENCY_ADD/REMOVE, KEY_CREATE/ROTATE/REVOKE) and
published by the next audit flush. It sits above :mod:`broker.trust` (keys,
certificates, the registry) and :mod:`broker.audit` (events, journal, audit keys),
so neither of those imports it.

Example::

    >>> import tempfile
    >>> from broker.config import Settings
    >>> from broker.trust import load_trust
    >>> s = Settings(home=tempfile.mkdtemp())
    >>> init_federation(s, agencies=["ES-PN", "DE-BKA"])
    ['DE-BKA', 'ES-PN']
    >>> add_agency(s, agency="PT-PJ")
    >>> load_trust(s).agency_ids()
    ['DE-BKA', 'ES-PN', 'PT-PJ']
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
import shutil
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from broker import home
from broker.audit.events import FEDERATION_STREAM, ROUTER_STREAM, AuditEvent, AuditKind
from broker.audit.journal import AuditJournal
from broker.audit.keys import issue_audit_key, remove_audit_key
from broker.config import Settings
from broker.errors import ConfigError, UnknownKeyError
from broker.topics import MemberKind, check_agency_id
from broker.trust.certificates import FederationRoot
from broker.trust.keys import DecryptionKeyPair, SigningKeyPair
from broker.trust.keystore import b64, load_root, load_trust, save_key
from broker.trust.lock import registry_lock
from broker.trust.manifest import sign_registry
from broker.trust.members import check_country, default_kind

__all__ = [
    "DEFAULT_VALIDITY_DAYS",
    "add_agency",
    "init_federation",
    "remove_agency",
    "revoke_key",
    "rotate_keys",
]

DEFAULT_VALIDITY_DAYS = 730


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _registry_writer(
    change: Callable[Concatenate[Settings, _P], _R],
) -> Callable[Concatenate[Settings, _P], _R]:
    """Run ``change`` holding the registry lock: nobody reads ``agencies/`` half rewritten."""

    def locked(settings: Settings, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with registry_lock(settings, write=True):
            return change(settings, *args, **kwargs)

    functools.update_wrapper(locked, change)  # name, docstring (help text, doctests)
    return locked


def _issue(
    settings: Settings,
    root: FederationRoot,
    agency: str,
    *,
    usage: str,
    days: int,
    passphrase: str | None,
    not_before: dt.datetime,
) -> str:
    prefix = "sig" if usage == "SIGN" else "enc"
    key_id = f"{prefix}-{not_before:%Y%m%d}-{secrets.token_hex(3)}"
    if usage == "SIGN":
        pair = SigningKeyPair.generate(agency=agency, key_id=key_id)
        cert = root.certify_signing(pair.public(), not_before=not_before, days=days)
        seeds = pair.seeds()
    else:
        dpair = DecryptionKeyPair.generate(agency=agency, key_id=key_id)
        cert = root.certify_encryption(dpair.public(), not_before=not_before, days=days)
        seeds = dpair.seeds()
    save_key(
        home.agency_key(settings, agency, key_id),
        agency=agency,
        key_id=key_id,
        usage=usage,
        seeds=seeds,
        passphrase=passphrase,
    )
    cert_dir = home.certificates_dir(settings, agency)
    cert_dir.mkdir(parents=True, exist_ok=True)
    (cert_dir / f"{key_id}.cert").write_bytes(cert)
    return key_id


@_registry_writer
def init_federation(
    settings: Settings,
    *,
    agencies: list[str],
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    passphrase: str | None = None,
    force: bool = False,
) -> list[str]:
    """Create the federation root and the given agencies; return the agency ids."""
    ids = sorted({check_agency_id(a) for a in agencies})
    if not ids:
        raise ConfigError("a federation needs at least one agency")
    if home.root_public(settings).exists() and not force:
        raise ConfigError(
            "a federation already exists here",
            detail=f"{home.root_public(settings)} exists (use --force to replace it)",
        )
    if force:
        shutil.rmtree(settings.agencies_dir, ignore_errors=True)
        shutil.rmtree((home.root_key(settings).parent), ignore_errors=True)
        for agency in ids:
            shutil.rmtree(home.agency_keys_dir(settings, agency), ignore_errors=True)
    root = FederationRoot.generate()
    save_key(
        home.root_key(settings),
        agency="federation-root",
        key_id="root",
        usage="ROOT",
        seeds=root.seeds(),
        passphrase=passphrase,
    )
    settings.agencies_dir.mkdir(parents=True, exist_ok=True)
    raw = {k: b64(v) for k, v in root.public().raw().items()}
    home.root_public(settings).write_text(json.dumps(raw, indent=2) + "\n")
    for stream in (FEDERATION_STREAM, ROUTER_STREAM):
        remove_audit_key(settings, stream)
        issue_audit_key(settings, stream=stream, passphrase=passphrase, root=root)
    for agency in ids:
        add_agency(settings, agency=agency, validity_days=validity_days, passphrase=passphrase)
    return ids


@_registry_writer
def add_agency(
    settings: Settings,
    *,
    agency: str,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    passphrase: str | None = None,
    kind: str | None = None,
    country: str | None = None,
) -> None:
    """Add a member with fresh signing and encryption keys.

    ``kind``: police (default), hub (default for :data:`broker.topics.HUB`) or hotline;
    a hotline names the ``country`` (ISO 3166-1 alpha-2) whose hosted content it covers.
    Both go in the member's root-signed ``profile.json``.
    """
    check_agency_id(agency)
    try:
        member_kind = MemberKind(kind) if kind is not None else default_kind(agency)
    except ValueError:
        raise ConfigError(
            f"unknown member kind {kind!r}", detail="police, hub or hotline"
        ) from None
    if country is not None:
        check_country(country)
    elif member_kind is MemberKind.HOTLINE:
        raise ConfigError("a hotline needs --country", detail="the country whose hosting it covers")
    root = load_root(settings, passphrase)
    profile = home.agency_profile(settings, agency)
    if profile.exists():
        raise ConfigError("agency already exists", detail=agency)
    profile.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    doc: dict[str, str] = {"agency": agency, "added_at": now.isoformat()}
    if kind is not None or country is not None:
        doc |= {"kind": member_kind.value} | ({"country": country} if country else {})
    profile.write_text(json.dumps(doc) + "\n")
    remove_audit_key(settings, agency)
    issue_audit_key(settings, stream=agency, passphrase=passphrase, root=root)
    _record(settings, AuditKind.AGENCY_ADD, agency=agency)
    for usage in ("SIGN", "ENCRYPT"):
        key_id = _issue(
            settings,
            root,
            agency,
            usage=usage,
            days=validity_days,
            passphrase=passphrase,
            not_before=now,
        )
        _record(settings, AuditKind.KEY_CREATE, agency=agency, key_id=key_id, outcome=usage)
    sign_registry(settings, root)


@_registry_writer
def rotate_keys(
    settings: Settings,
    *,
    agency: str,
    usages: tuple[str, ...] = ("SIGN", "ENCRYPT"),
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    passphrase: str | None = None,
) -> list[str]:
    """Issue new keys; retire the previous ones as SUPERSEDED from now. Return new key ids.

    Envelopes created before the rotation still verify with the old signing key;
    old decryption keys stay in ``keys/`` to open old envelopes.
    """
    trust = load_trust(settings)
    profile = trust.require_agency(agency)
    root = load_root(settings, passphrase)
    now = dt.datetime.now(dt.UTC)
    new_ids = []
    for usage in usages:
        for cert in profile.certificates:
            if cert.usage == usage and trust.revocation(agency, cert.key_id) is None:
                _write_revocation(
                    settings,
                    root.revoke(
                        agency=agency,
                        key_id=cert.key_id,
                        kind="SUPERSEDED",
                        revoked_at=now,
                        reason="rotated",
                    ),
                    agency,
                    cert.key_id,
                )
        key_id = _issue(
            settings,
            root,
            agency,
            usage=usage,
            days=validity_days,
            passphrase=passphrase,
            not_before=now,
        )
        _record(settings, AuditKind.KEY_ROTATE, agency=agency, key_id=key_id, outcome=usage)
        new_ids.append(key_id)
    sign_registry(settings, root)
    return new_ids


def _write_revocation(settings: Settings, data: bytes, agency: str, key_id: str) -> None:
    rev_dir = home.revocations_dir(settings, agency)
    rev_dir.mkdir(parents=True, exist_ok=True)
    path = rev_dir / f"{key_id}.rev"
    if path.exists():
        # Keep every revocation: a compromise may follow a rotation's retirement.
        path = rev_dir / f"{key_id}.{secrets.token_hex(3)}.rev"
    path.write_bytes(data)


@_registry_writer
def revoke_key(
    settings: Settings,
    *,
    agency: str,
    key_id: str,
    reason: str,
    kind: str = "COMPROMISED",
    passphrase: str | None = None,
) -> None:
    """Revoke one key (signed by the root); it is refused for any time afterwards."""
    trust = load_trust(settings)
    trust.require_agency(agency)
    if not any(c.key_id == key_id for c in trust.require_agency(agency).certificates):
        raise UnknownKeyError("unknown key", detail=f"{agency} has no key {key_id!r}")
    root = load_root(settings, passphrase)
    data = root.revoke(
        agency=agency, key_id=key_id, kind=kind, revoked_at=dt.datetime.now(dt.UTC), reason=reason
    )
    _write_revocation(settings, data, agency, key_id)
    sign_registry(settings, root)
    _record(
        settings, AuditKind.KEY_REVOKE, agency=agency, key_id=key_id, outcome=kind, reason=reason
    )


@_registry_writer
def remove_agency(settings: Settings, *, agency: str, passphrase: str | None = None) -> list[str]:
    """Withdraw every key of an agency; return the key ids withdrawn."""
    profile = load_trust(settings).require_agency(agency)
    ids = [c.key_id for c in profile.certificates]
    for key_id in ids:
        revoke_key(
            settings,
            agency=agency,
            key_id=key_id,
            reason="agency removed",
            kind="WITHDRAWN",
            passphrase=passphrase,
        )
    _record(settings, AuditKind.AGENCY_REMOVE, agency=agency)
    return ids


def _record(
    settings: Settings,
    kind: AuditKind,
    *,
    agency: str,
    key_id: str | None = None,
    outcome: str = "ok",
    reason: str | None = None,
) -> None:
    """Journal a federation administration event (published by the next audit flush)."""
    journal = AuditJournal.open(
        home.audit_journal(settings, FEDERATION_STREAM), stream=FEDERATION_STREAM
    )
    try:
        journal.append(
            AuditEvent.federation(
                kind, agency=agency, key_id=key_id, outcome=outcome, reason=reason
            )
        )
    finally:
        journal.close()
