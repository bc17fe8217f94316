"""Signed checkpoints: known answers from Go and sum.golang.org, then attacks on notes."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import merkle
from broker.audit import note as note_module
from broker.audit.checkpoint import Checkpoint, open_checkpoint
from broker.audit.note import MAX_SIGNATURES, add_signatures, key_id, open_note, sign_note
from broker.audit.signers import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    ALG_MLDSA44_SUBTREE_V1,
    CosignatureSigner,
    CosignatureVerifier,
    MLDSACosignatureSigner,
    NoteSigner,
    NoteVerifier,
    verifier_from_key_string,
)
from broker.errors import AuditError, NoteError, NoteSignatureError

VECTORS = Path(__file__).parents[1] / "vectors" / "checkpoint" / "signed_note.json"
ORIGIN = "audit.example/ES-PN"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def vec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


def _ed25519(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test-key-%d" % seed).digest())


@pytest.fixture(scope="module")
def log() -> NoteSigner:
    return NoteSigner.from_private_key(name=ORIGIN, private_key=_ed25519(1))


@pytest.fixture(scope="module")
def witness() -> CosignatureSigner:
    return CosignatureSigner.from_private_key(
        name="witness.example/DE-BKA", private_key=_ed25519(2)
    )


@pytest.fixture(scope="module")
def cp() -> Checkpoint:
    leaves = [merkle.leaf_hash(b"event-%d" % i) for i in range(10)]
    return Checkpoint(origin=ORIGIN, size=10, root=merkle.root(leaves))


@pytest.fixture(scope="module")
def note(cp: Checkpoint, log: NoteSigner) -> bytes:
    return sign_note(cp.to_note_body(), [log])


# --- Known answers -----------------------------------------------------------------------


def test_go_note_signature_is_reproduced_byte_exact(vec: dict[str, Any]) -> None:
    go = vec["go_note"]
    signer = NoteSigner.from_key_string(go["signer_key"])
    note = sign_note(go["text"].encode(), [signer])
    assert note == (go["text"] + "\n" + go["signature_line"]).encode()
    assert signer.verifier_key_string() == go["verifier_key"]
    assert signer.key_id == bytes.fromhex("c74f20a3")


def test_go_note_opens_with_one_or_both_published_keys(vec: dict[str, Any]) -> None:
    go = vec["go_note"]
    both = (go["text"] + "\n" + go["signature_line"] + go["other_signature_line"]).encode()
    peter = verifier_from_key_string(go["verifier_key"])
    enoch = verifier_from_key_string(go["other_verifier_key"])
    opened = open_note(both, [peter, enoch], required=2)
    assert opened.text == go["text"].encode()
    assert [s.name for s in opened.verified] == ["PeterNeumann", "EnochRoot"]
    assert [s.timestamp for s in opened.verified] == [None, None]
    only_peter = open_note(both, [peter])
    assert [s.name for s in only_peter.verified] == ["PeterNeumann"]
    assert [(u.name, u.key_id.hex()) for u in only_peter.unknown] == [("EnochRoot", "af0cfe78")]
    for key in (go["verifier_key"], go["other_verifier_key"]):
        assert verifier_from_key_string(key).verifier_key_string() == key


def test_mangled_verifier_keys_are_rejected(vec: dict[str, Any]) -> None:
    # As Go's TestNewVerifier: every proper substring and every one-character bump.
    key = vec["go_note"]["verifier_key"]
    mangled = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    mangled |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    mangled |= set(vec["go_note"]["bad_verifier_keys"])
    mangled.discard(key)
    accepted = []
    for bad in sorted(mangled):
        try:
            verifier_from_key_string(bad)
        except NoteError:
            continue
        accepted.append(bad)
    assert accepted == []


def test_mangled_signer_keys_are_rejected(vec: dict[str, Any]) -> None:
    key = vec["go_note"]["signer_key"]
    mangled = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    mangled |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    mangled.discard(key)
    accepted = []
    for bad in sorted(mangled):
        try:
            NoteSigner.from_key_string(bad)
        except NoteError:
            continue
        accepted.append(bad)
    assert accepted == []


def test_published_key_pairs_match(vec: dict[str, Any]) -> None:
    for skey, vkey in vec["formats_keys"]["pairs"]:
        assert NoteSigner.from_key_string(skey).verifier_key_string() == vkey


def test_real_sum_golang_org_checkpoint_verifies(vec: dict[str, Any]) -> None:
    sumdb = vec["sumdb_checkpoint"]
    verifier = verifier_from_key_string(sumdb["verifier_key"])
    signed = open_checkpoint(sumdb["note"].encode(), log=verifier, origin=sumdb["origin"])
    assert signed.checkpoint.origin == sumdb["origin"]  # an origin with spaces is allowed
    assert signed.checkpoint.size == sumdb["size"]
    assert signed.checkpoint.root == base64.b64decode(sumdb["root_base64"])
    assert signed.checkpoint.to_note_body() == signed.note.text
    with pytest.raises(NoteError):  # the key name is not the origin; an origin is required
        open_checkpoint(sumdb["note"].encode(), log=verifier)


def test_spec_example_checkpoint_body_parses() -> None:
    body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(body)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.to_note_body() == body


def test_key_ids_follow_signed_note_and_cosignature_formulas(
    log: NoteSigner, witness: CosignatureSigner
) -> None:
    log_pub = _ed25519(1).public_key().public_bytes_raw()
    wit_pub = _ed25519(2).public_key().public_bytes_raw()
    assert log.key_id == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + log_pub).digest()[:4]
    assert witness.key_id == key_id(witness.name, ALG_COSIGNATURE_V1, wit_pub)
    assert witness.key_id != key_id(witness.name, ALG_ED25519, wit_pub)


# --- Checkpoint bodies -------------------------------------------------------------------


def test_checkpoint_round_trips_with_extension_lines(cp: Checkpoint) -> None:
    ext = Checkpoint(origin=cp.origin, size=cp.size, root=cp.root, extensions=("x", "y z"))
    assert Checkpoint.parse(ext.to_note_body()) == ext
    empty = Checkpoint(origin=ORIGIN, size=0, root=merkle.EMPTY_ROOT)
    assert (
        empty.to_note_body()
        == f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".encode()
    )


ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"o\n1\n{ROOT_B64}".encode(), id="no-final-newline"),
        pytest.param(b"o\n1\n", id="two-lines"),
        pytest.param(f"\n1\n{ROOT_B64}\n".encode(), id="empty-origin"),
        pytest.param(f"o\n01\n{ROOT_B64}\n".encode(), id="leading-zero"),
        pytest.param(f"o\n+1\n{ROOT_B64}\n".encode(), id="plus-sign"),
        pytest.param(f"o\n 1\n{ROOT_B64}\n".encode(), id="space-before-size"),
        pytest.param(f"o\n1_000\n{ROOT_B64}\n".encode(), id="underscore-in-size"),
        pytest.param(f"o\n\u0663\n{ROOT_B64}\n".encode(), id="arabic-indic-digit"),
        pytest.param(f"o\n-1\n{ROOT_B64}\n".encode(), id="negative-size"),
        pytest.param(f"o\n{1 << 64}\n{ROOT_B64}\n".encode(), id="size-over-64-bits"),
        pytest.param(b"o\n1\n" + base64.b64encode(bytes(31)) + b"\n", id="short-root"),
        pytest.param(f"o\n1\n{ROOT_B64[:-2]}9=\n".encode(), id="non-canonical-root"),
        pytest.param(f"o\n1\n{ROOT_B64[:-1]}\n".encode(), id="unpadded-root"),
        pytest.param(f"o\n1\n {ROOT_B64}\n".encode(), id="space-in-root"),
        pytest.param(f"o\n1\n{ROOT_B64}\n\n".encode(), id="empty-extension-line"),
        pytest.param(f"o\r\n1\n{ROOT_B64}\n".encode(), id="carriage-return"),
        pytest.param(f"o\x00\n1\n{ROOT_B64}\n".encode(), id="nul-in-origin"),
        pytest.param(f"\xff\n1\n{ROOT_B64}\n".encode("latin-1"), id="not-utf8"),
    ],
)
def test_malformed_checkpoint_body_is_rejected(body: bytes) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(body)


def test_checkpoint_fields_are_validated_on_construction() -> None:
    for kwargs in (
        {"origin": "", "size": 1, "root": bytes(32)},
        {"origin": "a\nb", "size": 1, "root": bytes(32)},
        {"origin": "o", "size": -1, "root": bytes(32)},
        {"origin": "o", "size": 1, "root": bytes(33)},
        {"origin": "o", "size": 1, "root": bytes(32), "extensions": ("",)},
    ):
        with pytest.raises(NoteError):
            Checkpoint(**kwargs)  # type: ignore[arg-type]


# --- Attacks on signed checkpoints ---------------------------------------------------------


def _replace_body(note: bytes, body: bytes) -> bytes:
    return body + note[note.rindex(b"\n\n") + 1 :]


def test_checkpoint_opens_for_the_log(note: bytes, cp: Checkpoint, log: NoteSigner) -> None:
    signed = open_checkpoint(note, log=log.verifier())
    assert signed.checkpoint == cp
    assert signed.witnesses == ()


def test_checkpoint_with_rewritten_root_is_rejected(
    note: bytes, cp: Checkpoint, log: NoteSigner
) -> None:
    forged = Checkpoint(origin=cp.origin, size=cp.size, root=hashlib.sha256(b"other").digest())
    with pytest.raises(NoteSignatureError):
        open_checkpoint(_replace_body(note, forged.to_note_body()), log=log.verifier())


def test_checkpoint_with_rolled_back_size_is_rejected(
    note: bytes, cp: Checkpoint, log: NoteSigner
) -> None:
    forged = Checkpoint(origin=cp.origin, size=cp.size - 3, root=cp.root)
    with pytest.raises(NoteSignatureError):
        open_checkpoint(_replace_body(note, forged.to_note_body()), log=log.verifier())


def test_checkpoint_with_injected_extension_line_is_rejected(
    note: bytes, cp: Checkpoint, log: NoteSigner
) -> None:
    forged = cp.to_note_body() + b"injected\n"
    with pytest.raises(NoteSignatureError):
        open_checkpoint(_replace_body(note, forged), log=log.verifier())


def test_checkpoint_of_another_log_is_rejected(log: NoteSigner) -> None:
    other = Checkpoint(origin="audit.example/DE-BKA", size=1, root=bytes(32))
    with pytest.raises(NoteError):
        open_checkpoint(sign_note(other.to_note_body(), [log]), log=log.verifier())


def test_signature_from_unknown_key_is_ignored_not_trusted(
    note: bytes, cp: Checkpoint, log: NoteSigner
) -> None:
    stranger = NoteSigner.from_private_key(name="stranger.example", private_key=_ed25519(9))
    only_stranger = sign_note(cp.to_note_body(), [stranger])
    with pytest.raises(NoteSignatureError):  # no trusted signature at all
        open_note(only_stranger, [log.verifier()])
    both = add_signatures(note, [stranger])
    opened = open_note(both, [log.verifier()])
    assert [s.name for s in opened.verified] == [ORIGIN]
    assert [u.name for u in opened.unknown] == ["stranger.example"]


def test_impostor_key_under_the_trusted_name_is_ignored_not_trusted(
    cp: Checkpoint, log: NoteSigner
) -> None:
    # Same name, other key: the key ID differs, so the line is unknown, not a failure
    # and not a success (signed-note: ignore keys sharing a name or an ID, not both).
    impostor = NoteSigner.from_private_key(name=ORIGIN, private_key=_ed25519(7))
    with pytest.raises(NoteSignatureError) as info:
        open_note(sign_note(cp.to_note_body(), [impostor]), [log.verifier()])
    assert "0 verified" in (info.value.detail or "")


def test_forged_signature_under_a_trusted_name_and_key_id_rejects_the_whole_note(
    note: bytes, cp: Checkpoint, log: NoteSigner, witness: CosignatureSigner
) -> None:
    # A key ID is only 4 bytes: an attacker can match both, but not the signature.
    forged_line = f"\u2014 {ORIGIN} ".encode() + base64.b64encode(log.key_id + bytes(64)) + b"\n"
    text = cp.to_note_body()
    with pytest.raises(NoteSignatureError):
        open_note(text + b"\n" + forged_line, [log.verifier(), witness.verifier()])
    with pytest.raises(NoteError):  # next to the genuine line it is a duplicate key
        open_note(note + forged_line, [log.verifier()])
    with pytest.raises(NoteSignatureError):  # even when another trusted key verifies
        open_note(
            text + b"\n" + forged_line + _line(witness.at(T0), text),
            [log.verifier(), witness.verifier()],
        )


def _line(signer: CosignatureSigner | NoteSigner, text: bytes) -> bytes:
    return sign_note(text, [signer])[len(text) + 1 :]


def test_duplicate_signature_lines_are_rejected(note: bytes, log: NoteSigner) -> None:
    line = note[note.rindex(b"\n\n") + 2 :]
    with pytest.raises(NoteError):  # Go tolerates this; a log of ours never writes it
        open_note(note + line, [log.verifier()])


def test_too_many_signatures_are_rejected_but_sixteen_witnesses_are_fine(
    cp: Checkpoint, log: NoteSigner
) -> None:
    text = cp.to_note_body()
    witnesses = [
        CosignatureSigner.from_private_key(name=f"w{i}.example", private_key=_ed25519(100 + i))
        for i in range(MAX_SIGNATURES)
    ]
    sixteen = sign_note(text, [log, *(w.at(T0) for w in witnesses[:16])])
    signed = open_checkpoint(
        sixteen, log=log.verifier(), witnesses=[w.verifier() for w in witnesses[:16]], quorum=16
    )
    assert len(signed.witnesses) == 16
    too_many = sixteen + b"".join(_line(w.at(T0), text) for w in witnesses[16:])
    with pytest.raises(NoteError):
        open_note(too_many, [log.verifier()])
    with pytest.raises(ValueError, match="more than"):
        sign_note(text, [log, *(w.at(T0) for w in witnesses)])


def test_quorum_and_required_are_enforced(
    note: bytes, log: NoteSigner, witness: CosignatureSigner
) -> None:
    with pytest.raises(NoteSignatureError):
        open_checkpoint(note, log=log.verifier(), witnesses=[witness.verifier()], quorum=1)
    with pytest.raises(NoteSignatureError):
        open_note(note, [log.verifier(), witness.verifier()], required=2)
    with pytest.raises(ValueError):
        open_note(note, [log.verifier()], required=0)


def test_witness_signatures_without_the_log_signature_are_rejected(
    cp: Checkpoint, log: NoteSigner, witness: CosignatureSigner
) -> None:
    only_witness = sign_note(cp.to_note_body(), [witness.at(T0)])
    with pytest.raises(NoteSignatureError):
        open_checkpoint(only_witness, log=log.verifier(), witnesses=[witness.verifier()])


def _in_signatures(note: bytes, old: bytes, new: bytes) -> bytes:
    split = note.rindex(b"\n\n") + 2
    return note[:split] + note[split:].replace(old, new)


@pytest.mark.parametrize(
    ("mutate", "label"),
    [
        (lambda n: n.replace(b"\n\n", b"\n"), "no-blank-line"),
        (lambda n: n[:-1], "missing-final-newline"),
        (lambda n: n + b"\n", "trailing-blank-line"),
        (lambda n: n + b"unexpected line\n", "unexpected-line"),
        (lambda n: n.replace("\u2014".encode(), b"-"), "hyphen-instead-of-em-dash"),
        (lambda n: n.replace("\u2014 ".encode(), "\u2014".encode()), "no-space-after-dash"),
        (lambda n: n.replace(ORIGIN.encode() + b" ", b"audit example "), "space-in-key-name"),
        (lambda n: n.replace(ORIGIN.encode() + b" ", b"a+b "), "plus-in-key-name"),
        (lambda n: _in_signatures(n, b"=\n", b"\n"), "unpadded-signature"),
        (lambda n: _in_signatures(n, b"=\n", b"= \n"), "trailing-space"),
        (lambda n: _in_signatures(n, b"=\n", b"/=\n"), "broken-base64-signature"),
        (lambda n: b"\x01" + n, "control-character"),
        (lambda n: b"\xff" + n, "not-utf8"),
        (lambda n: n.replace(b"\n", b"\r\n"), "crlf-line-endings"),
        (lambda n: n + b"\xe2\x80\x94 x AAAA\n", "signature-shorter-than-key-id"),
        (lambda n: n + bytes(note_module.MAX_NOTE_BYTES), "oversized"),
    ],
)
def test_malformed_note_is_rejected(note: bytes, log: NoteSigner, mutate: Any, label: str) -> None:
    with pytest.raises(NoteError) as info:
        open_note(mutate(note), [log.verifier()])
    assert str(info.value) == "malformed note", info.value.diagnostics()


def test_sign_note_refuses_text_that_is_not_a_note_text(log: NoteSigner) -> None:
    for text in (b"no newline", b"\xff\n", b"tab\there\n"):
        with pytest.raises(NoteError):
            sign_note(text, [log])
    with pytest.raises(ValueError):
        sign_note(b"text\n", [])
    with pytest.raises(ValueError):
        sign_note(b"text\n", [log, log])


def test_note_errors_are_audit_errors_that_tell_a_peer_little(note: bytes) -> None:
    with pytest.raises(NoteSignatureError) as info:
        open_note(note, [])
    assert isinstance(info.value, AuditError)
    assert info.value.reason == "bad-note-signature"
    assert str(info.value) == "note is not signed by enough trusted keys"


# --- Witnessing -------------------------------------------------------------------------


def test_witness_cosignature_is_added_to_the_signed_note(
    note: bytes, cp: Checkpoint, log: NoteSigner, witness: CosignatureSigner
) -> None:
    cosigned = add_signatures(note, [witness.at(T0)])
    assert cosigned.startswith(note)  # the log's line is untouched
    signed = open_checkpoint(cosigned, log=log.verifier(), witnesses=[witness.verifier()], quorum=1)
    assert signed.checkpoint == cp
    assert [(w.name, w.timestamp) for w in signed.witnesses] == [(witness.name, T0)]
    # Re-cosigning later replaces the witness's line rather than adding a second one.
    again = add_signatures(cosigned, [witness.at(T0 + 60)])
    signed = open_checkpoint(again, log=log.verifier(), witnesses=[witness.verifier()], quorum=1)
    assert [w.timestamp for w in signed.witnesses] == [T0 + 60]


def test_cosignature_v1_signs_the_spec_message(cp: Checkpoint, witness: CosignatureSigner) -> None:
    # tlog-cosignature: "cosignature/v1\ntime <t>\n" || body; line = key ID || u64 t || sig.
    text = cp.to_note_body()
    raw = base64.b64decode(_line(witness.at(T0), text).split(b" ")[-1])
    assert raw[:4] == witness.key_id
    assert struct.unpack(">Q", raw[4:12]) == (T0,)
    public = Ed25519PublicKey.from_public_bytes(_ed25519(2).public_key().public_bytes_raw())
    public.verify(raw[12:], b"cosignature/v1\ntime %d\n" % T0 + text)


def test_cosignature_replayed_onto_another_checkpoint_is_rejected(
    cp: Checkpoint, log: NoteSigner, witness: CosignatureSigner
) -> None:
    # A split view: the log shows the witness one tree and auditors another.
    seen = cp.to_note_body()
    other = Checkpoint(origin=cp.origin, size=cp.size, root=bytes(32)).to_note_body()
    replayed = sign_note(other, [log]) + _line(witness.at(T0), seen)
    with pytest.raises(NoteSignatureError):
        open_checkpoint(replayed, log=log.verifier(), witnesses=[witness.verifier()], quorum=1)


def test_cosignature_with_a_rewritten_timestamp_is_rejected(
    note: bytes, log: NoteSigner, witness: CosignatureSigner
) -> None:
    cosigned = add_signatures(note, [witness.at(T0)])
    head, _, b64 = cosigned.rstrip(b"\n").rpartition(b" ")
    raw = bytearray(base64.b64decode(b64))
    raw[4:12] = struct.pack(">Q", T0 + 86_400)
    forged = head + b" " + base64.b64encode(bytes(raw)) + b"\n"
    with pytest.raises(NoteSignatureError):
        open_note(forged, [log.verifier(), witness.verifier()])


def test_cosignature_timestamp_beyond_2_63_is_rejected(
    note: bytes, cp: Checkpoint, log: NoteSigner
) -> None:
    key = _ed25519(2)
    verifier = CosignatureVerifier(
        name="witness.example/DE-BKA", public_key=key.public_key().public_bytes_raw()
    )
    ts = 1 << 63
    sig = key.sign(b"cosignature/v1\ntime %d\n" % ts + cp.to_note_body())
    line = (
        f"\u2014 {verifier.name} ".encode()
        + base64.b64encode(verifier.key_id + struct.pack(">Q", ts) + sig)
        + b"\n"
    )
    with pytest.raises(NoteSignatureError):
        open_note(note + line, [log.verifier(), verifier])


def test_plain_note_signature_cannot_pass_as_a_cosignature(cp: Checkpoint, log: NoteSigner) -> None:
    # Same key and name as a witness but type 0x01: a different key ID, so unknown.
    key = _ed25519(2)
    plain = NoteSigner.from_private_key(name="witness.example/DE-BKA", private_key=key)
    cosigner = CosignatureSigner.from_private_key(name="witness.example/DE-BKA", private_key=key)
    text = cp.to_note_body()
    note = sign_note(text, [log, plain])
    with pytest.raises(NoteSignatureError):
        open_checkpoint(note, log=log.verifier(), witnesses=[cosigner.verifier()], quorum=1)


def test_ml_dsa_44_cosignature_signs_the_subtree_v1_message(
    note: bytes, cp: Checkpoint, log: NoteSigner
) -> None:
    key = MLDSA44PrivateKey.generate()
    pq = MLDSACosignatureSigner.from_private_key(name="witness.example/PT-PJ", private_key=key)
    cosigned = add_signatures(note, [pq.at(T0)])
    vkey = pq.verifier_key_string()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == ALG_MLDSA44_SUBTREE_V1
    signed = open_checkpoint(
        cosigned, log=log.verifier(), witnesses=[verifier_from_key_string(vkey)], quorum=1
    )
    assert [w.timestamp for w in signed.witnesses] == [T0]
    # The cosigned_message struct, built here by hand from the spec.
    raw = base64.b64decode(cosigned.rstrip(b"\n").rpartition(b" ")[2])
    name, origin = pq.name.encode(), cp.origin.encode()
    message = (
        b"subtree/v1\n\x00"
        + bytes([len(name)])
        + name
        + struct.pack(">Q", T0)
        + bytes([len(origin)])
        + origin
        + struct.pack(">QQ", 0, cp.size)
        + cp.root
    )
    MLDSA44PublicKey.from_public_bytes(key.public_key().public_bytes_raw()).verify(
        raw[12:], message
    )
    # Replayed onto another tree head, it fails.
    other = Checkpoint(origin=cp.origin, size=cp.size + 1, root=cp.root).to_note_body()
    replayed = sign_note(other, [log]) + cosigned[cosigned.rindex(b"\n", 0, -1) + 1 :]
    with pytest.raises(NoteSignatureError):
        open_checkpoint(replayed, log=log.verifier(), witnesses=[pq.verifier()], quorum=1)


def test_verifier_key_strings_round_trip_for_every_type(
    log: NoteSigner, witness: CosignatureSigner
) -> None:
    pq = MLDSACosignatureSigner.from_private_key(
        name="w.example", private_key=MLDSA44PrivateKey.generate()
    )
    for signer in (log, witness, pq):
        vkey = signer.verifier_key_string()
        parsed = verifier_from_key_string(vkey)
        assert parsed == signer.verifier()
        assert parsed.key_id == signer.key_id
    assert isinstance(verifier_from_key_string(log.verifier_key_string()), NoteVerifier)


# --- Properties --------------------------------------------------------------------------

safe_line = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=20
)


@settings(max_examples=60, deadline=None)
@given(
    origin=safe_line,
    size=st.integers(min_value=0, max_value=(1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(safe_line, max_size=3),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_signed_checkpoints_round_trip_and_any_bit_flip_is_rejected(
    origin: str,
    size: int,
    root: bytes,
    extensions: list[str],
    position: int,
    bit: int,
) -> None:
    signer = NoteSigner.from_private_key(name="log.example", private_key=_ed25519(3))
    cp = Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))
    note = sign_note(cp.to_note_body(), [signer])
    signed = open_checkpoint(note, log=signer.verifier(), origin=origin)
    assert signed.checkpoint == cp
    tampered = bytearray(note)
    tampered[position % len(note)] ^= 1 << bit
    with pytest.raises(NoteError):
        open_checkpoint(bytes(tampered), log=signer.verifier(), origin=origin)
