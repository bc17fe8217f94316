"""The verifier on in-memory signed streams: every kind of tampering is found and located."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import merkle
from broker.audit.auditor import trail_of
from broker.audit.checkpoint import Checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind, origin_for
from broker.audit.findings import AuditReport, FindingKind, RawRecord
from broker.audit.note import sign_note
from broker.audit.rules import DELIVERY_GRACE
from broker.audit.signers import NoteSigner, NoteVerifier
from broker.audit.verify import AuditVerifier
from broker.codec import SchemaStore
from broker.devtools.bench.audit_rate import synthetic_records
from broker.errors import NoteError
from broker.synthetic import example_dossier
from tests.audit import tamper

EVENTS = 600  # 300 ES-PN events, 300 router events; checkpoints every 100
EVERY = 100


@pytest.fixture(scope="module")
def honest() -> tuple[list[RawRecord], dict[str, object]]:
    records, keys = synthetic_records(EVENTS, checkpoint_every=EVERY)
    return records, dict(keys)


def _verify(records: list[RawRecord], keys: dict[str, object], **kw: object) -> AuditReport:
    verifier = AuditVerifier(keys=keys)  # type: ignore[arg-type]
    verifier.feed_all(records)
    return verifier.finish(**kw)  # type: ignore[arg-type]


def _latest_note(records: list[RawRecord], stream: str) -> bytes:
    store = SchemaStore.default()
    notes = [
        store.decode(CHECKPOINT_SCHEMA, r.value)
        for r in records
        if r.value[2:10] == store.fingerprint(CHECKPOINT_SCHEMA)
    ]
    note: bytes = max((n for n in notes if n["stream"] == stream), key=lambda n: n["size"])["note"]
    return note


def test_an_honest_log_verifies_ok(honest: tuple[list[RawRecord], dict[str, object]]) -> None:
    records, keys = honest
    report = _verify(records, keys, external=[_latest_note(records, "ES-PN")])
    assert report.ok, report.findings
    assert report.events == EVENTS
    legacy = ("size", "checkpoints", "anchored", "unanchored", "retries")
    assert {k: report.streams["ES-PN"][k] for k in legacy} == {
        "size": 400,
        "checkpoints": 4,
        "anchored": 400,
        "unanchored": 0,
        "retries": 0,
    }


def test_attack_modify_an_event_is_named_by_the_chain_and_the_root(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    report = _verify(tamper.modify("ES-PN", 150)(records), keys)
    kinds = {(f.kind, f.seq) for f in report.findings}
    assert (FindingKind.MODIFIED, 150) in kinds
    assert (FindingKind.ROOT_MISMATCH, 199) in kinds  # the checkpoint at size 200 covers it
    modified = next(f for f in report.findings if f.kind is FindingKind.MODIFIED)
    assert modified.stream == "ES-PN" and modified.where is not None


def test_attack_delete_an_event_is_reported_as_the_missing_sequence(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    report = _verify(tamper.delete("router", 42)(records), keys)
    deleted = [f for f in report.findings if f.kind is FindingKind.DELETED]
    assert [(f.stream, f.seq) for f in deleted] == [("router", 42)]


def test_attack_reorder_two_events_is_reported_as_reordered(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    report = _verify(tamper.reorder("ES-PN", 10)(records), keys)
    reordered = [f for f in report.findings if f.kind is FindingKind.REORDERED]
    assert [(f.stream, f.seq) for f in reordered] == [("ES-PN", 10)]
    # Once both have arrived nothing is missing: it is a reorder, not a deletion.
    assert not [f for f in report.findings if f.kind is FindingKind.DELETED]


def test_attack_inject_an_event_with_a_taken_sequence_number(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    report = _verify(tamper.inject("ES-PN", 77)(records), keys)
    injected = [f for f in report.findings if f.kind is FindingKind.INJECTED]
    assert [(f.stream, f.seq) for f in injected] == [("ES-PN", 77)]


def test_attack_inject_with_renumbering_is_caught_by_the_signed_roots(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    report = _verify(tamper.inject_renumbered("ES-PN", 250)(records), keys)
    mismatches = [f for f in report.findings if f.kind is FindingKind.ROOT_MISMATCH]
    assert mismatches and all(f.stream == "ES-PN" for f in mismatches)
    assert mismatches[0].seq == 299  # first signed size after the insertion is 300


def test_attack_truncate_is_caught_by_a_checkpoint_kept_outside_the_broker(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    outside = _latest_note(records, "ES-PN")
    cut = tamper.truncate("ES-PN", 250)(records)
    # Without an outside checkpoint a clean cut at the end leaves no sequence or root
    # trace (only the router's deliveries of now-unpublished envelopes break a rule):
    # this is why writers keep their newest note outside Kafka and witnesses cosign.
    blind = _verify(cut, keys)
    assert {f.kind for f in blind.findings} == {FindingKind.RULE}
    report = _verify(cut, keys, external=[outside])
    truncated = [f for f in report.findings if f.kind is FindingKind.TRUNCATED]
    assert [(f.stream, f.seq, f.where) for f in truncated] == [("ES-PN", 250, "external")]


def test_attack_forged_checkpoint_signature_is_refused(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    impostor = NoteSigner.from_private_key(
        name=origin_for("ES-PN"), private_key=Ed25519PrivateKey.generate()
    )
    body = Checkpoint(origin=origin_for("ES-PN"), size=1, root=bytes(32)).to_note_body()
    value = SchemaStore.default().encode(
        CHECKPOINT_SCHEMA,
        {"stream": "ES-PN", "size": 1, "note": sign_note(body, [impostor]), "at": 0},
    )
    forged = RawRecord(partition=0, offset=9999, key=b"ES-PN", value=value)
    report = _verify([*records, forged], keys)
    assert [f.kind for f in report.findings] == [FindingKind.FORGED_CHECKPOINT]
    assert report.findings[0].where == "0:9999"


def test_attack_events_of_a_stream_without_a_certified_key_are_flagged(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    rogue = AuditEvent.new(AuditKind.PUBLISH, actor="XX-ROGUE").at_position(
        stream="XX-ROGUE", seq=0, prev=b""
    )
    extra = RawRecord(partition=2, offset=0, key=b"XX-ROGUE", value=rogue.to_bytes())
    report = _verify([*records, extra], keys)
    assert [(f.kind, f.stream) for f in report.findings] == [
        (FindingKind.UNKNOWN_STREAM, "XX-ROGUE")
    ]


def test_garbage_records_are_undecodable_findings(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    junk = RawRecord(partition=0, offset=5, key=None, value=b"\xc3\x01" + bytes(20))
    report = _verify([*records, junk], keys)
    assert [(f.kind, f.where) for f in report.findings] == [(FindingKind.UNDECODABLE, "0:5")]


def test_a_byte_identical_repeat_is_a_writer_retry_not_a_finding(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    i = next(i for i, r in enumerate(records) if r.key == b"ES-PN")
    report = _verify([*records[: i + 1], records[i], *records[i + 1 :]], keys)
    assert report.ok and report.streams["ES-PN"]["retries"] == 1


def _stream(*events: AuditEvent) -> list[RawRecord]:
    """Place events in their streams (as writers would), without checkpoints."""
    seqs: dict[str, int] = {}
    prev: dict[str, bytes] = {}
    out: list[RawRecord] = []
    for event in events:
        stream = event.actor
        placed = event.at_position(
            stream=stream, seq=seqs.get(stream, 0), prev=prev.get(stream, b"")
        )
        value = placed.to_bytes()
        seqs[stream] = placed.seq + 1
        prev[stream] = merkle.leaf_hash(value)
        out.append(RawRecord(partition=0, offset=len(out), key=stream.encode(), value=value))
    return out


def _signed(records: list[RawRecord]) -> tuple[list[RawRecord], dict[str, NoteVerifier]]:
    """Append a signed checkpoint of every stream at its end (as its writer would)."""
    leaves: dict[str, list[bytes]] = {}
    for r in records:
        leaves.setdefault(AuditEvent.from_bytes(r.value).stream, []).append(
            merkle.leaf_hash(r.value)
        )
    out, keys = list(records), {}
    for stream, hashes in leaves.items():
        signer = NoteSigner.from_private_key(
            name=origin_for(stream), private_key=Ed25519PrivateKey.generate()
        )
        verifier = signer.verifier()
        assert isinstance(verifier, NoteVerifier)
        keys[stream] = verifier
        body = Checkpoint(origin=origin_for(stream), size=len(hashes), root=merkle.root(hashes))
        value = SchemaStore.default().encode(
            CHECKPOINT_SCHEMA,
            {
                "stream": stream,
                "size": len(hashes),
                "note": sign_note(body.to_note_body(), [signer]),
                "at": 0,
            },
        )
        out.append(RawRecord(partition=0, offset=len(out), key=stream.encode(), value=value))
    return out, keys


def _rules(records: list[RawRecord], *, anchored: int | None = None) -> list[str]:
    """Rule violations over ``records``; the first ``anchored`` are covered by checkpoints."""
    head, tail = (records, []) if anchored is None else (records[:anchored], records[anchored:])
    signed, keys = _signed(head)
    verifier = AuditVerifier(keys=keys)
    verifier.feed_all([*signed, *tail])
    return [f.detail for f in verifier.finish().findings if f.kind is FindingKind.RULE]


def test_rule_an_open_needs_a_delivery_by_the_router() -> None:
    sha = bytes(32)
    publish = AuditEvent.new(
        AuditKind.PUBLISH,
        actor="ES-PN",
        envelope_id="e1",
        envelope_sha256=sha,
        parties=["ES-PN", "DE-BKA"],
    )
    # The recipient cannot vouch for its own delivery: a DELIVER in its stream is ignored.
    self_deliver = AuditEvent.new(
        AuditKind.DELIVER,
        actor="DE-BKA",
        envelope_id="e1",
        envelope_sha256=sha,
        parties=["ES-PN", "DE-BKA"],
    )
    open_ = AuditEvent.new(
        AuditKind.OPEN,
        actor="DE-BKA",
        envelope_id="e1",
        envelope_sha256=sha,
        parties=["ES-PN", "DE-BKA"],
    )
    assert _rules(_stream(publish, self_deliver, open_)) == [
        "DE-BKA opened envelope e1 that was never delivered to it"
    ]
    deliver = dataclasses.replace(self_deliver, actor="router")
    assert _rules(_stream(publish, deliver, open_)) == []


def test_rule_a_delivery_needs_a_publish_naming_that_recipient() -> None:
    sha = bytes(32)
    publish = AuditEvent.new(
        AuditKind.PUBLISH,
        actor="ES-PN",
        envelope_id="e1",
        envelope_sha256=sha,
        parties=["ES-PN", "DE-BKA"],
    )
    deliver = AuditEvent.new(
        AuditKind.DELIVER,
        actor="router",
        envelope_id="e1",
        envelope_sha256=sha,
        parties=["ES-PN", "IT-PS"],
    )
    orphan = AuditEvent.new(
        AuditKind.DELIVER,
        actor="router",
        envelope_id="e2",
        envelope_sha256=sha,
        parties=["ES-PN", "DE-BKA"],
    )
    assert _rules(_stream(publish, deliver, orphan)) == [
        "e1 delivered to IT-PS, not a recipient",
        "delivery of e2 that was never published",
    ]


def test_rule_no_release_of_restricted_content_without_the_owners_grant() -> None:
    release = AuditEvent.new(
        AuditKind.HIT_NOTIFICATION,
        actor="EUROPOL",
        outcome="released",
        ref="req-1",
        parties=["EUROPOL", "DE-BKA", "ES-PN"],
    )
    assert _rules(_stream(release)) == [
        "ES-PN's restricted holding released to DE-BKA without ES-PN's grant (request req-1)"
    ]
    grant = AuditEvent.new(
        AuditKind.RELEASE_GRANT, actor="ES-PN", ref="req-1", parties=["ES-PN", "DE-BKA"]
    )
    assert _rules(_stream(grant, release)) == []
    # A grant for someone else does not cover DE-BKA.
    other = dataclasses.replace(grant, parties=["ES-PN", "IT-PS"])
    assert len(_rules(_stream(other, release))) == 1


def test_rule_an_anonymous_grant_releases_only_the_holder_the_hubs_request_bound() -> None:
    """F1: a restricted owner grants to an alias; only the hub's own request resolves it."""
    alias = "restricted-holder-00000000000000aa"
    request = AuditEvent.release_request(
        actor="EUROPOL",
        envelope_id="e1",
        owner="ES-PN",
        requested_for=["DE-BKA"],
        request_id="req-1",
        anonymous={alias: "IT-PS"},
    )
    assert request.parties == ["EUROPOL", "ES-PN", "DE-BKA", f"{alias}=IT-PS"]
    grant = AuditEvent.grant(
        actor="ES-PN", envelope_id="e2", release_to=[alias], request_id="req-1"
    )
    release = AuditEvent.hit_released(
        actor="EUROPOL", envelope_id="e3", owner="IT-PS", released_by="ES-PN", request_id="req-1"
    )
    assert _rules(_stream(request, grant, release)) == []
    # The alias covers IT-PS only, not DE-BKA; and only the hub's request binds an alias.
    to_de = dataclasses.replace(release, parties=["EUROPOL", "DE-BKA", "ES-PN"])
    assert len(_rules(_stream(request, grant, to_de))) == 1
    forged = dataclasses.replace(
        request, actor="IT-PS", parties=["IT-PS", "ES-PN", f"{alias}=IT-PS"]
    )
    assert len(_rules(_stream(forged, grant, release))) == 1


# -- red-team findings, 2026-12 ----------------------------------------------------------------


@pytest.mark.parametrize("seq", [2**62, 10**8])
def test_attack_one_event_with_a_huge_sequence_number_does_not_exhaust_the_auditor(
    honest: tuple[list[RawRecord], dict[str, object]], seq: int
) -> None:
    """F3: a forged sequence number far past the stream's end is a finding, not an allocation."""
    records, keys = honest
    forged = AuditEvent.new(AuditKind.PUBLISH, actor="ES-PN").at_position(
        stream="ES-PN", seq=seq, prev=bytes(32)
    )
    hostile = RawRecord(partition=0, offset=99_999, key=b"ES-PN", value=forged.to_bytes())
    middle = len(records) // 2
    tampered = [*records[:middle], hostile, *records[middle:]]
    tracemalloc.start()
    try:
        report = _verify(tampered, keys, external=[_latest_note(records, "ES-PN")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(f.kind, f.stream, f.seq, f.where) for f in report.findings] == [
        (FindingKind.INJECTED, "ES-PN", seq, "0:99999")
    ]
    assert "far past the stream's end" in report.findings[0].detail
    # The honest streams verify as before; the forged number allocated nothing.
    assert report.streams["ES-PN"]["size"] == 400 and report.streams["ES-PN"]["unanchored"] == 0
    assert peak < 16 << 20, f"peak {peak} bytes"


def test_a_gap_is_kept_as_one_range_not_one_entry_per_number(
    honest: tuple[list[RawRecord], dict[str, object]],
) -> None:
    records, keys = honest
    cut = records
    for seq in range(40, 45):
        cut = tamper.delete("router", seq)(cut)
    verifier = AuditVerifier(keys=keys)  # type: ignore[arg-type]
    verifier.feed_all(cut)
    assert len(verifier.streams["router"].gaps) == 1
    deleted = [f for f in verifier.finish().findings if f.kind is FindingKind.DELETED]
    assert [(f.stream, f.seq, f.detail) for f in deleted] == [
        ("router", 40, "sequences 40..44 are missing (the stream jumps past it)")
    ]


def test_attack_deleting_every_record_of_the_federation_stream_is_a_missing_stream() -> None:
    """F5: a certified stream with no record and no outside checkpoint is a finding."""
    records, keys = synthetic_records(60, agency="federation", checkpoint_every=10)
    assert _verify(records, dict(keys)).ok
    gone = [r for r in records if r.key != b"federation"]
    report = _verify(gone, dict(keys))
    missing = [f for f in report.findings if f.kind is FindingKind.MISSING_STREAM]
    assert [f.stream for f in missing] == ["federation"]
    # A stream certified moments ago may not have written yet: not a finding (but not anchored).
    young = AuditVerifier(keys=keys, certified_at={"federation": dt.datetime.now(dt.UTC)})
    young.feed_all(gone)
    young_report = young.finish()
    assert FindingKind.MISSING_STREAM not in {f.kind for f in young_report.findings}
    assert "federation" in young_report.unanchored


_T0 = 1_798_761_600  # 2027-01-01T00:00:00Z


def _timed_log(size: int, every: int) -> tuple[list[RawRecord], NoteSigner, list[bytes]]:
    """ES-PN's stream as its writer signs it: a checkpoint with a signed time every ``every``
    events, one minute apart; returns the records, the key and every note."""
    signer = NoteSigner.from_private_key(
        name=origin_for("ES-PN"), private_key=Ed25519PrivateKey.generate()
    )
    records: list[RawRecord] = []
    notes: list[bytes] = []
    rng = merkle.CompactRange()
    prev = b""
    for seq in range(size):
        value = (
            AuditEvent.new(AuditKind.PUBLISH, actor="ES-PN")
            .at_position(stream="ES-PN", seq=seq, prev=prev)
            .to_bytes()
        )
        prev = merkle.leaf_hash(value)
        rng.append(prev)
        records.append(RawRecord(partition=0, offset=len(records), key=b"ES-PN", value=value))
        if rng.size % every == 0:
            when = _T0 + 60 * (rng.size // every)
            body = Checkpoint(
                origin=origin_for("ES-PN"),
                size=rng.size,
                root=rng.root(),
                extensions=(f"time {when}",),
            )
            note = sign_note(body.to_note_body(), [signer])
            notes.append(note)
            value = SchemaStore.default().encode(
                CHECKPOINT_SCHEMA, {"stream": "ES-PN", "size": rng.size, "note": note, "at": 0}
            )
            records.append(RawRecord(partition=0, offset=len(records), key=b"ES-PN", value=value))
    return records, signer, notes


def test_attack_rollback_to_an_older_consistent_prefix_is_stale_and_unanchored() -> None:
    """F6: signed time in checkpoints, freshness, and a verdict qualified without an anchor."""
    records, signer, notes = _timed_log(50, every=10)  # signed at T0+60 .. T0+300
    keys: dict[str, object] = {"ES-PN": signer.verifier()}
    replayed_at = dt.datetime.fromtimestamp(_T0 + 330, dt.UTC)

    def run(log: list[RawRecord], external: list[bytes]) -> AuditReport:
        return _verify(log, keys, external=external, now=replayed_at)

    honest = run(records, [notes[-1]])
    assert honest.verdict == "OK"
    assert honest.streams["ES-PN"]["newest_checkpoint_time"] == _T0 + 300
    assert honest.streams["ES-PN"]["fresh"] is True
    assert honest.streams["ES-PN"]["anchored_against_rollback"] is True
    # Attack: the operator cuts the stream back to size 20 (a consistent, signed prefix).
    rolled_back = tamper.truncate("ES-PN", 20)(records)
    blind = run(rolled_back, [])
    assert blind.ok  # nothing inside the log contradicts it...
    assert blind.streams["ES-PN"]["fresh"] is False  # ...but its newest signed time is old
    assert blind.streams["ES-PN"]["anchored_against_rollback"] is False
    assert blind.verdict == "OK (not anchored against rollback: ES-PN)"
    # Even unanchored, an honest log that is merely unwitnessed says so instead of "OK".
    assert run(records, []).verdict == "OK (not anchored against rollback: ES-PN)"
    # With the outside note the rollback is a truncation finding.
    anchored = run(rolled_back, [notes[-1]])
    assert [f.kind for f in anchored.findings] == [FindingKind.TRUNCATED]
    assert anchored.to_json_dict()["verdict"] == "FAILED"


def test_checkpoint_notes_without_a_signed_time_still_verify() -> None:
    records, keys = synthetic_records(30, checkpoint_every=10)  # notes with no time line
    report = _verify(records, dict(keys))
    assert report.ok and report.streams["ES-PN"]["newest_checkpoint_time"] is None
    assert report.streams["ES-PN"]["fresh"] is False
    body = Checkpoint(origin="o", size=1, root=bytes(32), extensions=("time 5",)).to_note_body()
    assert Checkpoint.parse(body).time == 5
    for bad in (b"time -1", b"time 05", b"time x"):
        with pytest.raises(NoteError, match="malformed"):
            Checkpoint.parse(body.replace(b"time 5", bad))


_SHA = bytes(32)


def _ev(kind: AuditKind, actor: str, **fields: object) -> AuditEvent:
    return AuditEvent.new(kind, actor=actor, **fields)


def test_attack_forged_grant_appended_after_the_last_checkpoint_does_not_hide_a_release() -> None:
    """F7: an event after its stream's last signed checkpoint never satisfies a rule."""
    own = _ev(AuditKind.PUBLISH, "ES-PN", envelope_id="d1", parties=["ES-PN", "EUROPOL"])
    release = _ev(
        AuditKind.HIT_NOTIFICATION,
        "EUROPOL",
        outcome="released",
        ref="req-1",
        parties=["EUROPOL", "DE-BKA", "ES-PN"],
    )
    forged_grant = _ev(AuditKind.RELEASE_GRANT, "ES-PN", ref="req-1", parties=["ES-PN", "DE-BKA"])
    records = _stream(own, release, forged_grant)  # the grant is chained correctly
    violation = (
        "ES-PN's restricted holding released to DE-BKA without ES-PN's grant (request req-1)"
    )
    assert _rules(records, anchored=2) == [violation]
    assert _rules(records) == []  # the same grant, covered by ES-PN's checkpoint, is evidence


def test_attack_unsigned_delivery_does_not_cover_an_open() -> None:
    publish = _ev(
        AuditKind.PUBLISH,
        "ES-PN",
        envelope_id="e1",
        envelope_sha256=_SHA,
        parties=["ES-PN", "DE-BKA"],
    )
    open_ = _ev(
        AuditKind.OPEN,
        "DE-BKA",
        envelope_id="e1",
        envelope_sha256=_SHA,
        parties=["ES-PN", "DE-BKA"],
    )
    deliver = _ev(
        AuditKind.DELIVER,
        "router",
        envelope_id="e1",
        envelope_sha256=_SHA,
        parties=["ES-PN", "DE-BKA"],
    )
    head = _stream(publish, open_)
    anchor = _stream(_ev(AuditKind.ROUTE, "router"))
    tail = _stream(_ev(AuditKind.ROUTE, "router"), deliver)[1:]  # router seq 1, unsigned
    found = _rules([*head, *anchor, *tail], anchored=3)
    assert found == [
        "DE-BKA opened envelope e1 that was never delivered to it (the only matching "
        "evidence is not covered by a signed checkpoint)"
    ]


def test_rule_a_delivery_nobody_opened_or_rejected_is_a_finding_after_the_grace() -> None:
    """Audit rule gap: a silently dropped delivery is visible."""
    t0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    publish = _ev(
        AuditKind.PUBLISH,
        "ES-PN",
        envelope_id="e1",
        envelope_sha256=_SHA,
        parties=["ES-PN", "DE-BKA"],
    )
    deliver = dataclasses.replace(
        _ev(
            AuditKind.DELIVER,
            "router",
            envelope_id="e1",
            envelope_sha256=_SHA,
            parties=["ES-PN", "DE-BKA"],
        ),
        at=t0,
    )
    later = dataclasses.replace(  # the replay's newest anchored event: two days on
        _ev(AuditKind.PUBLISH, "ES-PN", envelope_id="e2", parties=["ES-PN", "IT-PS"]),
        at=t0 + DELIVERY_GRACE * 2,
    )
    soon = dataclasses.replace(later, at=t0 + DELIVERY_GRACE / 2)
    assert _rules(_stream(publish, deliver, later)) == [
        "e1 delivered to DE-BKA was neither opened nor rejected by it within 1 day, 0:00:00"
    ]
    assert _rules(_stream(publish, deliver, soon)) == []  # still within the grace period
    rejected = _ev(
        AuditKind.REJECT,
        "DE-BKA",
        envelope_id="e1",
        reason="expired",
        parties=["ES-PN", "DE-BKA"],
    )
    assert _rules(_stream(publish, deliver, later, rejected)) == []


@pytest.mark.parametrize(
    ("outcome", "named"),
    [("notified", ["ES-PN"]), ("notified", ["IT-PS", "ES-PN"]), ("released", ["ES-PN", "IT-PS"])],
)
def test_rule_a_restricted_holder_named_under_any_label_needs_its_grant(
    outcome: str, named: list[str]
) -> None:
    """Audit rule gap: the release rule does not trust the hub's outcome label or party count."""
    restricted = _ev(
        AuditKind.PUBLISH,
        "ES-PN",
        envelope_id="d1",
        envelope_sha256=_SHA,
        parties=["ES-PN", "EUROPOL"],
        message_kind="DOSSIER",
        codes={**example_dossier(0).codes.to_avro(), "handling": ["H0", "H2"], "tlp": "AMBER"},
    )
    open_ = _ev(AuditKind.PUBLISH, "IT-PS", envelope_id="d2", parties=["IT-PS", "EUROPOL"])
    hit = _ev(
        AuditKind.HIT_NOTIFICATION,
        "EUROPOL",
        outcome=outcome,
        ref="x",
        parties=["EUROPOL", "DE-BKA", *named],
    )
    expected = [
        f"{holder}'s restricted holding released to DE-BKA without {holder}'s grant (request x)"
        for holder in named
        if holder == "ES-PN" or outcome == "released"  # "released" claims a grant for all
    ]
    assert _rules(_stream(restricted, open_, hit)) == expected
    # Restriction also follows from the hub's own release request to the holder.
    elsewhere = _ev(AuditKind.PUBLISH, "ES-PN", envelope_id="d9", parties=["ES-PN", "IT-PS"])
    request = _ev(
        AuditKind.RELEASE_REQUEST, "EUROPOL", ref="req-9", parties=["EUROPOL", "ES-PN", "DE-BKA"]
    )
    assert _rules(_stream(elsewhere, open_, request, hit)) == expected
    grant = _ev(AuditKind.RELEASE_GRANT, "ES-PN", ref="req-9", parties=["ES-PN", "DE-BKA"])
    assert _rules(_stream(elsewhere, open_, request, grant, hit)) == expected[1:]  # IT-PS's
    # A holder that also gave the hub a dossier needing no consent may be named (the events do
    # not say which holding matched), unless the hub itself says it released it.
    unrestricted = dataclasses.replace(restricted, envelope_id="d3", codes=None)
    assert _rules(_stream(restricted, unrestricted, open_, hit)) == (
        [] if outcome == "notified" else expected
    )


def test_attack_forged_tail_event_is_shown_unverified_in_the_trail() -> None:
    """F7: ``broker audit trail`` marks events no signed checkpoint covers."""
    publish = _ev(AuditKind.PUBLISH, "ES-PN", envelope_id="e1", parties=["ES-PN", "DE-BKA"])
    forged = _ev(AuditKind.RELEASE_GRANT, "ES-PN", ref="e1", parties=["ES-PN", "DE-BKA"])
    records = _stream(publish, forged)
    signed, keys = _signed(records[:1])
    verifier = AuditVerifier(keys=keys)
    verifier.keep_events = True
    verifier.feed_all([*signed, *records[1:]])
    verifier.finish()
    assert [(ev.kind, ok) for ev, ok in trail_of(verifier, "e1")] == [
        (AuditKind.PUBLISH, True),
        (AuditKind.RELEASE_GRANT, False),
    ]
