"""The stream store on its own (no Kafka): a verified dossier's parts are released once
handled, a re-delivered part is still told from a duplicate, and a released dossier's
manifest is a replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.agency.reassembly import Reassembly
from broker.devtools.chaos.parts import Stream, build_stream
from broker.envelope import OpenedEnvelope, Verifier
from broker.errors import DuplicatePartError, ReplayError
from broker.trust.testing import UnsafeTestFederation


@pytest.fixture(scope="module")
def fed() -> UnsafeTestFederation:
    return UnsafeTestFederation.create(agencies=["ES-PN", "DE-BKA"])


@pytest.fixture
def stream(fed: UnsafeTestFederation) -> Stream:
    return build_stream(fed.identity("ES-PN"), fed.trust, to=["DE-BKA"], n_refs=3000)


def _store(tmp_path: Path) -> Reassembly:
    return Reassembly(path=tmp_path / "streams.db", agency="DE-BKA")


def _assembled(
    fed: UnsafeTestFederation, store: Reassembly, stream: Stream
) -> tuple[OpenedEnvelope, int]:
    for i, record in enumerate(stream.parts):
        store.take_part(record, where=f"inbox/0/{i}")
    opened = Verifier(trust=fed.trust).open(stream.manifest, identity=fed.identity("DE-BKA"))
    dossier = store.dossier(opened)
    assert dossier is not None
    return opened, sum(1 for _ in dossier.media_stream())


def _stored_bytes(store: Reassembly) -> int:
    row = store._db.execute("SELECT COALESCE(SUM(LENGTH(record)), 0) FROM parts").fetchone()
    return int(row[0])


def test_handled_dossier_parts_are_deleted_and_its_manifest_is_then_a_replay(
    fed: UnsafeTestFederation, stream: Stream, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    opened, count = _assembled(fed, store, stream)
    assert count == 3000
    assert _stored_bytes(store) > 3000 * 100
    store.release([("ES-PN", stream.envelope_id)])
    assert _stored_bytes(store) == 0
    with pytest.raises(ReplayError):
        store.dossier(opened)


def test_part_redelivered_after_release_is_ignored_and_a_duplicate_still_refused(
    fed: UnsafeTestFederation, stream: Stream, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    _assembled(fed, store, stream)
    store.release([("ES-PN", stream.envelope_id)])
    store.take_part(stream.parts[0], where="inbox/0/0")  # Kafka re-delivery after a crash
    with pytest.raises(DuplicatePartError):
        store.take_part(stream.parts[0], where="inbox/0/99")  # the same part sent again
    assert _stored_bytes(store) == 0


def test_parts_stay_until_the_delivery_is_handled_then_a_restart_releases_them(
    fed: UnsafeTestFederation, stream: Stream, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    _assembled(fed, store, stream)
    store.close()  # a crash between the agency store's commit and release()
    store = _store(tmp_path)
    key = ("ES-PN", stream.envelope_id)
    assert store.release_handled(lambda keys: set()) == 0  # still pending: kept
    assert _stored_bytes(store) > 0
    assert store.release_handled(lambda keys: {k for k in keys if k == key}) == 1
    assert _stored_bytes(store) == 0


def test_release_of_envelopes_not_assembled_here_touches_nothing(
    fed: UnsafeTestFederation, stream: Stream, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    for i, record in enumerate(stream.parts):
        store.take_part(record, where=f"inbox/0/{i}")
    before = _stored_bytes(store)
    store.release([("ES-PN", stream.envelope_id), ("PT-PJ", "ab" * 16)])  # no manifest yet
    assert _stored_bytes(store) == before
