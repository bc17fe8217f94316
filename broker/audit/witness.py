"""Witnesses: another agency cosigns a stream's checkpoint after checking what it saw before.

A witness keeps, per stream, the newest checkpoint it cosigned
(``<home>/state/<WITNESS>/witnessed/<stream>.note``) and refuses to cosign a
smaller tree (a rollback) or another root for the same size (a fork). Without
the log in hand it cannot check a consistency proof between two sizes; an
auditor who replays the log does that by recomputing every signed root. The
cosignature is c2sp.org/tlog-cosignature ``cosignature/v1`` under the name
``witness/<AGENCY>``, made with the witness agency's root-certified audit key.

A witness's *verifier key* is public and derived from that certificate alone
(:func:`witness_key`, ``broker audit witness-key --as AGENCY``): the same Ed25519
public key under the name ``witness/<AGENCY>`` with signature type 0x04, so its
key ID differs from the audit key's. Any C2SP tlog-cosignature verifier takes it.

Example::

    cosigned = cosign(note, witness="DE-BKA", signer=load_audit_signer(settings, stream="DE-BKA"),
                      keys=load_audit_keys(settings),
                      seen_dir=home.stream_state_dir(settings, "DE-BKA"))
    verify: AuditVerifier(keys=keys, witnesses=witness_verifiers(keys, ["DE-BKA"]), quorum=1)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from broker import home
from broker.audit.checkpoint import open_checkpoint
from broker.audit.note import add_signatures
from broker.audit.signers import CosignatureVerifier, NoteSigner, NoteVerifier
from broker.errors import AuditError, WitnessError

__all__ = ["cosign", "witness_key", "witness_name", "witness_verifiers"]

_PREFIX = "fed.audit/"


def witness_name(agency: str) -> str:
    """The key name under which ``agency`` cosigns."""
    return f"witness/{agency}"


def witness_verifiers(
    keys: Mapping[str, NoteVerifier], agencies: Iterable[str]
) -> list[CosignatureVerifier]:
    """Return the cosignature verifiers of these witness agencies (from their audit keys).

    The verifier never counts a stream's own key as its witness
    (:meth:`broker.audit.verify.AuditVerifier.open_note`, :func:`open_checkpoint`).
    """
    out = []
    for agency in agencies:
        key = keys.get(agency)
        if key is None:
            raise WitnessError("no certified audit key for this witness", detail=agency)
        out.append(CosignatureVerifier(name=witness_name(agency), public_key=key.public_key))
    return out


def witness_key(keys: Mapping[str, NoteVerifier], agency: str) -> str:
    """Return the verifier key string of ``agency``'s cosignatures (from its certified key).

    ``<witness/AGENCY>+<hex key ID>+<base64(0x04 || Ed25519 public key)>``, the form
    c2sp.org/signed-note and Go's ``note.NewVerifier`` read.
    """
    (verifier,) = witness_verifiers(keys, [agency])
    return verifier.verifier_key_string()


def cosign(
    note: bytes,
    *,
    witness: str,
    signer: NoteSigner,
    keys: Mapping[str, NoteVerifier],
    seen_dir: Path,
) -> bytes:
    """Check ``note`` against what this witness saw before; return it with our cosignature."""
    origin = note.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    stream = origin.removeprefix(_PREFIX)
    key = keys.get(stream)
    if not origin.startswith(_PREFIX) or key is None:
        raise WitnessError("not a checkpoint of a known audit stream", detail=origin)
    if stream == witness or signer.verifier().public_key == key.public_key:
        raise WitnessError("a stream cannot witness its own checkpoint", detail=stream)
    try:
        new = open_checkpoint(note, log=key, origin=origin).checkpoint
    except AuditError as exc:
        raise WitnessError("checkpoint does not verify", detail=exc.message) from exc
    seen = seen_dir / "witnessed" / f"{stream}.note"
    if seen.exists():
        old = open_checkpoint(seen.read_bytes(), log=key, origin=origin).checkpoint
        if new.size < old.size:
            raise WitnessError(
                "rollback: smaller than a checkpoint already witnessed",
                detail=f"{stream}: {new.size} < {old.size}",
            )
        if new.size == old.size and new.root != old.root:
            raise WitnessError("fork: another root for a size already witnessed", detail=stream)
    cosigned = add_signatures(note, [signer.cosigner(witness_name(witness))])
    home.write_private(seen, note)
    return cosigned
