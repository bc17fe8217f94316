"""The verifier on in-memory signed streams: every kind of tampering is found and located."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.checkpoint import Checkpoint
from broker.audit.events import CHECKPOINT_SCHEMA, AuditEvent, AuditKind, origin_for
from broker.audit.findings import AuditReport, FindingKind, RawRecord
from broker.audit.note import sign_note
from broker.audit.signers import NoteSigner
from broker.audit.verify import AuditVerifier
from broker.codec import SchemaStore
from broker.devtools.bench.audit_rate import synthetic_records
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
    assert report.streams["ES-PN"] == {
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
    from broker import merkle

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


def _rules(records: list[RawRecord]) -> list[str]:
    verifier = AuditVerifier(keys={})
    verifier.feed_all(records)
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
