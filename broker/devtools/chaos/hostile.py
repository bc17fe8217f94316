"""Hostile records for the attack scenario, the reason each must be refused with, and the tally.

Seven kinds, each injected alternately into DE-BKA's inbox (the consumer must
refuse it) and into an outbox (the router must refuse it, or route it to a
consumer that does):

================  ===========================================  =====================
kind              how it is made                               expected reason
================  ===========================================  =====================
random-bytes      1-2,000 random bytes                         ``malformed``
mutated           a valid envelope with one bit flipped in     ``bad-signature``
                  its ciphertext, key wrap, nonce, commitment
                  or signature, re-encoded canonically
replay            a copy of an envelope already delivered      ``replayed``
other-agency      ES-PN -> PT-PJ envelope in DE-BKA's inbox;   ``not-a-recipient``;
                  in DE-BKA's outbox (impersonation)           ``bad-signature``
expired           sealed with a one-second lifetime, seconds ago ``expired``
revoked-key       signed with PT-PJ's revoked signing key      ``key-revoked``
downgraded-suite  pq-hybrid with the ML-DSA-65 signature       ``bad-signature``;
                  stripped; or the signed suite renamed        ``unsupported-suite``
================  ===========================================  =====================

A dead letter carries the SHA-256 of the original bytes, so :func:`tally_rejections`
matches every dead letter to the hostile record it refuses (as a multiset: a replay
injected twice is two identical records).

Example::

    >>> tally = tally_rejections([], [HostileRecord(
    ...     kind="random-bytes", topic="fed.inbox.DE-BKA", value=b"x", expected="malformed")])
    >>> tally.not_rejected, tally.rejected_ok
    (1, 0)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from broker.codec import SchemaStore
from broker.deadletter import DeadLetter
from broker.devtools.chaos.harness import RECIPIENT, REVOKED, SENDER, ChaosNetwork
from broker.envelope import seal
from broker.envelope.format import ENVELOPE_SCHEMA, HEADER_SCHEMA

__all__ = ["KINDS", "HostileForge", "HostileRecord", "RejectionTally", "tally_rejections"]

KINDS = (
    "random-bytes",
    "mutated",
    "replay",
    "other-agency",
    "expired",
    "revoked-key",
    "downgraded-suite",
)
_MUTABLE = ("ciphertext", "nonce", "commitment", "wrapped", "ed25519")


@dataclass(frozen=True, kw_only=True)
class HostileRecord:
    """One hostile record: what it is, where it goes, and the reason it must be refused with."""

    kind: str
    topic: str
    value: bytes
    expected: str

    @property
    def sha256(self) -> bytes:
        """The SHA-256 of the bytes (as a dead letter records it)."""
        return hashlib.sha256(self.value).digest()


class HostileForge:
    """Make hostile records against one :class:`ChaosNetwork`, with real keys and primitives."""

    def __init__(self, *, net: ChaosNetwork, replay_pool: list[bytes], seed: int = 8) -> None:
        if not replay_pool:
            raise ValueError("replays need at least one delivered envelope")
        self._net = net
        self._layout = net.layout
        self._replays = replay_pool
        self._rng = random.Random(seed)  # noqa: S311 - choosing test mutations, not crypto
        self._store = SchemaStore.default()
        self._payload = net.publisher.pool[0]

    def records(self, count: int) -> Iterator[HostileRecord]:
        """Yield ``count`` hostile records, cycling through the kinds and both targets."""
        for i in range(count):
            kind = KINDS[i % len(KINDS)]
            into_inbox = (i // len(KINDS)) % 2 == 0
            yield self.make(kind, into_inbox=into_inbox, index=i)

    def make(self, kind: str, *, into_inbox: bool, index: int = 0) -> HostileRecord:
        """Return one hostile record of ``kind`` for DE-BKA's inbox or an outbox."""
        inbox = self._layout.inbox(RECIPIENT)
        outbox = self._layout.outbox(SENDER)
        topic = inbox if into_inbox else outbox
        if kind == "random-bytes":
            value = os.urandom(self._rng.randint(1, 2000))
            return HostileRecord(kind=kind, topic=topic, value=value, expected="malformed")
        if kind == "mutated":
            return HostileRecord(
                kind=kind, topic=topic, value=self._mutated(), expected="bad-signature"
            )
        if kind == "replay":
            value = self._replays[index % len(self._replays)]
            return HostileRecord(kind=kind, topic=topic, value=value, expected="replayed")
        if kind == "other-agency":
            _, value = self._net.seal_dossier(to=[REVOKED])
            if into_inbox:
                return HostileRecord(
                    kind=kind, topic=inbox, value=value, expected="not-a-recipient"
                )
            # Signed by ES-PN, published in DE-BKA's outbox: an impersonation attempt.
            return HostileRecord(
                kind=kind,
                topic=self._layout.outbox(RECIPIENT),
                value=value,
                expected="bad-signature",
            )
        if kind == "expired":
            return HostileRecord(kind=kind, topic=topic, value=self._expired(), expected="expired")
        if kind == "revoked-key":
            target = inbox if into_inbox else self._layout.outbox(REVOKED)
            return HostileRecord(
                kind=kind, topic=target, value=self._revoked(), expected="key-revoked"
            )
        if kind == "downgraded-suite":
            # Both variants into both targets: alternate every other round of the kinds.
            if (index // (2 * len(KINDS))) % 2 == 0:
                return HostileRecord(
                    kind=kind, topic=topic, value=self._stripped_pq(), expected="bad-signature"
                )
            return HostileRecord(
                kind=kind, topic=topic, value=self._renamed_suite(), expected="unsupported-suite"
            )
        raise ValueError(f"unknown hostile kind {kind!r}")

    # -- the forgeries -------------------------------------------------------------------

    def _outer(self, data: bytes) -> dict[str, Any]:
        outer: dict[str, Any] = self._store.decode(ENVELOPE_SCHEMA, data)
        return outer

    def _mutated(self) -> bytes:
        _, data = self._net.seal_dossier(to=[RECIPIENT])
        outer = self._outer(data)
        where = self._rng.choice(_MUTABLE)
        if where == "wrapped":
            holder, name = outer["wraps"][0], "wrapped"
        elif where == "ed25519":
            holder, name = outer["signature"], "ed25519"
        else:
            holder, name = outer, where
        raw = bytearray(holder[name])
        pos = self._rng.randrange(len(raw))
        raw[pos] ^= 1 << self._rng.randrange(8)
        holder[name] = bytes(raw)
        return self._store.encode(ENVELOPE_SCHEMA, outer)

    def _expired(self) -> bytes:
        net = self._net
        # Created a second after the federation, valid for one second: expired by now.
        wait = (
            net.expired_now() + dt.timedelta(seconds=3) - dt.datetime.now(dt.UTC)
        ).total_seconds()
        if wait > 0:
            time.sleep(wait)
        payload, codes = self._payload
        return seal(
            payload,
            kind="DOSSIER",
            codes=codes,
            sender=net.sender,
            recipients=[RECIPIENT],
            trust=net.trust,
            sequence=1,
            ttl=dt.timedelta(seconds=1),
            now=net.expired_now(),
            envelope_id=secrets.token_hex(16),
        )

    def _revoked(self) -> bytes:
        identity = self._net.revoked_identity
        if identity is None:
            raise ValueError("the network has no revoked identity")
        payload, codes = self._payload
        return seal(
            payload,
            kind="DOSSIER",
            codes=codes,
            sender=identity,
            recipients=[RECIPIENT],
            trust=self._net.trust,
            sequence=1,
            envelope_id=secrets.token_hex(16),
        )

    def _stripped_pq(self) -> bytes:
        _, data = self._net.seal_dossier(to=[RECIPIENT], suite="pq-hybrid")
        outer = self._outer(data)
        outer["signature"]["ml_dsa_65"] = None
        return self._store.encode(ENVELOPE_SCHEMA, outer)

    def _renamed_suite(self) -> bytes:
        _, data = self._net.seal_dossier(to=[RECIPIENT])
        outer = self._outer(data)
        header = self._store.decode(HEADER_SCHEMA, outer["header"])
        header["suite"] = "classic-export"
        outer["header"] = self._store.encode(HEADER_SCHEMA, header)
        return self._store.encode(ENVELOPE_SCHEMA, outer)


@dataclass
class RejectionTally:
    """How the dead letters account for the hostile records injected."""

    injected: int = 0
    rejected_ok: int = 0
    wrong_reason: int = 0
    not_rejected: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    unexpected_letters: int = 0
    #: The reasons of the dead letters no hostile record accounts for.
    unexpected_reasons: dict[str, int] = field(default_factory=dict)
    #: Distinct records dead-lettered (by source position): a record re-read after a
    #: rebalance may be dead-lettered twice, and the audit log counts records.
    records: int = 0


def tally_rejections(
    letters: Iterable[DeadLetter], injected: Iterable[HostileRecord]
) -> RejectionTally:
    """Match dead letters to hostile records by SHA-256 and check each one's reason.

    This is the one place the rejected-record count is computed (an audit
    cross-check of REJECT events can be added alongside).
    """
    expected: dict[bytes, list[HostileRecord]] = defaultdict(list)
    tally = RejectionTally()
    for record in injected:
        expected[record.sha256].append(record)
        tally.injected += 1
    got: dict[bytes, Counter[str]] = defaultdict(Counter)
    positions = set()
    for letter in letters:
        got[letter.envelope_sha256][letter.reason] += 1
        positions.add((letter.source_topic, letter.source_partition, letter.source_offset))
    tally.records = len(positions)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for sha, records in expected.items():
        reasons = got.pop(sha, Counter())
        for record in records:
            if reasons[record.expected] > 0:
                reasons[record.expected] -= 1
                tally.rejected_ok += 1
                by_kind[record.kind][record.expected] += 1
                continue
            other = next((r for r, n in reasons.items() if n > 0), None)
            if other is not None:
                reasons[other] -= 1
                tally.wrong_reason += 1
                by_kind[record.kind][f"WRONG:{other}"] += 1
            else:
                tally.not_rejected += 1
                by_kind[record.kind]["NOT-REJECTED"] += 1
        got[sha] = Counter({r: n for r, n in reasons.items() if n > 0})
    unexpected = sum(got.values(), Counter())
    tally.unexpected_letters = sum(unexpected.values())
    tally.unexpected_reasons = dict(unexpected)
    tally.by_kind = {k: dict(v) for k, v in by_kind.items()}
    return tally
