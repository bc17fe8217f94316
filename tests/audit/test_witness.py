"""Witnesses: another agency cosigns a stream's checkpoint, refusing rollbacks and forks, and
an auditor can demand a quorum of witness cosignatures on checkpoints kept outside Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker import merkle
from broker.audit.checkpoint import Checkpoint, open_checkpoint
from broker.audit.events import AuditEvent, AuditKind, origin_for
from broker.audit.findings import FindingKind, RawRecord
from broker.audit.keys import load_audit_keys, load_audit_signer
from broker.audit.note import add_signatures, open_note, sign_note
from broker.audit.signers import CosignatureVerifier, verifier_from_key_string
from broker.audit.verify import AuditVerifier
from broker.audit.witness import cosign, witness_key, witness_name, witness_verifiers
from broker.cli import app
from broker.config import Settings
from broker.errors import NoteSignatureError, WitnessError
from broker.federation import init_federation


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s = Settings(home=tmp_path_factory.mktemp("witness"))
    init_federation(s, agencies=["ES-PN", "DE-BKA", "IT-PS"])
    return s


def _log(settings: Settings, size: int) -> tuple[list[RawRecord], list[bytes]]:
    """ES-PN's stream of ``size`` events and its signed checkpoint notes at each size."""
    signer = load_audit_signer(settings, stream="ES-PN")
    assert signer is not None
    records, notes, prev = [], [], b""
    rng = merkle.CompactRange()
    for seq in range(size):
        event = AuditEvent.new(AuditKind.PUBLISH, actor="ES-PN").at_position(
            stream="ES-PN", seq=seq, prev=prev
        )
        value = event.to_bytes()
        prev = merkle.leaf_hash(value)
        rng.append(prev)
        records.append(RawRecord(partition=0, offset=seq, key=b"ES-PN", value=value))
        body = Checkpoint(origin=origin_for("ES-PN"), size=rng.size, root=rng.root())
        notes.append(sign_note(body.to_note_body(), [signer]))
    return records, notes


def _verify(settings: Settings, records: list[RawRecord], note: bytes, quorum: int) -> list[str]:
    keys = load_audit_keys(settings)
    verifier = AuditVerifier(  # only ES-PN's stream is in this log
        keys={"ES-PN": keys["ES-PN"]},
        witnesses=witness_verifiers(keys, ["DE-BKA", "IT-PS"]),
        quorum=quorum,
    )
    verifier.feed_all(records)
    return [f.kind.value for f in verifier.finish(external=[note]).findings]


def test_a_cosigned_outside_checkpoint_meets_the_quorum(settings: Settings, tmp_path: Path) -> None:
    records, notes = _log(settings, 6)
    de = load_audit_signer(settings, stream="DE-BKA")
    assert de is not None
    keys = load_audit_keys(settings)
    cosigned = cosign(notes[5], witness="DE-BKA", signer=de, keys=keys, seen_dir=tmp_path)
    assert b"\n\xe2\x80\x94 witness/DE-BKA " in cosigned
    assert _verify(settings, records, cosigned, quorum=1) == []
    # Attack: an outside checkpoint nobody witnessed does not satisfy the auditor's quorum.
    assert _verify(settings, records, notes[5], quorum=1) == [FindingKind.FORGED_CHECKPOINT.value]
    # ... and one cosignature does not make a quorum of two.
    assert _verify(settings, records, cosigned, quorum=2) == [FindingKind.FORGED_CHECKPOINT.value]


def test_attack_rollback_and_fork_are_refused_by_the_witness(
    settings: Settings, tmp_path: Path
) -> None:
    _, notes = _log(settings, 5)
    de = load_audit_signer(settings, stream="DE-BKA")
    assert de is not None
    keys = load_audit_keys(settings)
    cosign(notes[4], witness="DE-BKA", signer=de, keys=keys, seen_dir=tmp_path)
    with pytest.raises(WitnessError, match="rollback"):
        cosign(notes[2], witness="DE-BKA", signer=de, keys=keys, seen_dir=tmp_path)
    _, other = _log(settings, 5)  # another history of the same size (fresh event ids)
    with pytest.raises(WitnessError, match="fork"):
        cosign(other[4], witness="DE-BKA", signer=de, keys=keys, seen_dir=tmp_path)
    # A note the stream did not sign is refused outright.
    forged = notes[4].replace(b"\n5\n", b"\n6\n")
    with pytest.raises(WitnessError, match="does not verify"):
        cosign(forged, witness="DE-BKA", signer=de, keys=keys, seen_dir=tmp_path)


def test_cli_cosign(settings: Settings, tmp_path: Path) -> None:
    _, notes = _log(settings, 3)
    note = tmp_path / "cp.note"
    note.write_bytes(notes[2])
    out = tmp_path / "cosigned.note"
    result = CliRunner().invoke(
        app,
        ["audit", "cosign", str(note), "--as", "IT-PS", "--out", str(out)],
        env={"BROKER_HOME": str(settings.home)},
    )
    assert result.exit_code == 0, result.output
    assert b"witness/IT-PS" in out.read_bytes()


def test_attack_a_stream_cannot_witness_its_own_checkpoint(
    settings: Settings, tmp_path: Path
) -> None:
    """F13: a quorum of 1 met only by the stream's own agency's witness key is refused."""
    records, notes = _log(settings, 4)
    es = load_audit_signer(settings, stream="ES-PN")
    assert es is not None
    keys = load_audit_keys(settings)
    # The attacker adds the cosignature by hand (cosign() refuses it, see below).
    self_cosigned = add_signatures(notes[3], [es.cosigner(witness_name("ES-PN"))])
    verifier = AuditVerifier(
        keys={"ES-PN": keys["ES-PN"]},
        witnesses=witness_verifiers(keys, ["ES-PN", "DE-BKA"]),
        quorum=1,
    )
    verifier.feed_all(records)
    findings = verifier.finish(external=[self_cosigned]).findings
    assert [f.kind for f in findings] == [FindingKind.FORGED_CHECKPOINT]
    assert "lacks a witness quorum" in findings[0].detail
    # The root mechanism: the log's own key never counts, whatever name it is listed under.
    with pytest.raises(NoteSignatureError, match="lacks a witness quorum"):
        open_checkpoint(
            self_cosigned,
            log=keys["ES-PN"],
            witnesses=[
                CosignatureVerifier(name="witness/ANY", public_key=es.verifier().public_key),
                *witness_verifiers(keys, ["ES-PN"]),
            ],
            quorum=1,
        )
    with pytest.raises(WitnessError, match="its own checkpoint"):
        cosign(notes[3], witness="ES-PN", signer=es, keys=keys, seen_dir=tmp_path)


def test_published_witness_key_verifies_the_witness_cosignature(
    settings: Settings, tmp_path: Path
) -> None:
    # An outside verifier gets the witness's key from `broker audit witness-key` (public files
    # only) and checks a cosignature with it; it names witness/IT-PS with type 0x04, not the
    # stream key fed.audit/IT-PS (type 0x01), so it cannot be mistaken for IT-PS's own log key.
    result = CliRunner().invoke(
        app, ["audit", "witness-key", "--as", "IT-PS"], env={"BROKER_HOME": str(settings.home)}
    )
    assert result.exit_code == 0, result.output
    vkey = result.output.strip()
    assert vkey == witness_key(load_audit_keys(settings), "IT-PS")
    verifier = verifier_from_key_string(vkey)
    assert isinstance(verifier, CosignatureVerifier)
    assert verifier.name == "witness/IT-PS"
    assert verifier.public_key == load_audit_keys(settings)["IT-PS"].public_key
    _, notes = _log(settings, 2)
    it = load_audit_signer(settings, stream="IT-PS")
    assert it is not None
    cosigned = cosign(
        notes[1], witness="IT-PS", signer=it, keys=load_audit_keys(settings), seen_dir=tmp_path
    )
    opened = open_note(cosigned, [verifier])
    assert [s.name for s in opened.verified] == ["witness/IT-PS"]
    with pytest.raises(WitnessError, match="no certified audit key"):
        witness_key(load_audit_keys(settings), "XX-NONE")
