"""Signed hash-list updates: what a list owner writes to its list's compacted topic.

A :class:`ListUpdate` is the whole current state of one entry (its hashes,
category, series, source and the last operation), so Kafka's compaction, which
keeps the latest record per key (the entry id), leaves exactly the list. It is
Avro single-object encoded (``eu.fed.hashlist.ListUpdate``) once, and the owner
signs ``frame("fed-hashlist-update-v1", topic, body)`` with its certified
Ed25519 and ML-DSA-65 keys (context ``fed-hashlist-v1``); the record value is
``eu.fed.hashlist.SignedListUpdate``. The topic is in the signed message, so an
update cannot be replayed into another list. Byte-level layout:
``docs/matching.md``, "Hash-list updates".

Example::

    >>> u = ListUpdate(list="hotline", owner="ES-PN", key_id="sig-1", entry_id="e1",
    ...                version=1, op="ADD", sha256="ab" * 32)
    >>> u.live
    True
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature

from broker._internal.framing import frame
from broker.codec import SchemaStore
from broker.errors import (
    ConfigError,
    HashListError,
    ListSignatureError,
    SchemaError,
    TrustError,
)
from broker.topics import LIST_NAME_PATTERN, TopicLayout, check_agency_id
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["ListOp", "ListUpdate", "next_version", "open_update", "sign_update"]

ListOp = Literal["ADD", "WITHDRAW", "CONFIRM", "DISPUTE"]
#: The framing tag of the signed message.
UPDATE_TAG = "fed-hashlist-update-v1"
#: The ML-DSA-65 context string.
ML_DSA_CONTEXT = b"fed-hashlist-v1"
_SCHEMA = "eu.fed.hashlist.ListUpdate"
_SIGNED = "eu.fed.hashlist.SignedListUpdate"
_ENTRY_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_HEX = {"sha256": 64, "md5": 32, "pdq": 64}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def next_version(previous: int = 0) -> int:
    """Return a version above ``previous``: the clock in milliseconds, so that updates
    written without reading the list (an import, a withdrawal) still supersede older ones."""
    return max(previous + 1, int(dt.datetime.now(dt.UTC).timestamp() * 1000))


@dataclass(frozen=True, kw_only=True)
class ListUpdate:
    """One entry of a list as its owner states it now (``eu.fed.hashlist.ListUpdate``)."""

    list: str
    owner: str
    key_id: str
    entry_id: str
    version: int
    op: ListOp
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    category: str | None = None
    series: str | None = None
    source: str | None = None
    note: str | None = None
    at: dt.datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not LIST_NAME_PATTERN.fullmatch(self.list):
            raise HashListError("malformed list name", detail=repr(self.list))
        try:
            check_agency_id(self.owner)
        except ConfigError as exc:
            raise HashListError("malformed list owner", detail=repr(self.owner)) from exc
        if not _ENTRY_ID.fullmatch(self.entry_id):
            raise HashListError("malformed entry id", detail=repr(self.entry_id))
        if self.op not in ("ADD", "WITHDRAW", "CONFIRM", "DISPUTE"):
            raise HashListError("unknown list operation", detail=repr(self.op))
        if self.version < 1:
            raise HashListError("entry version must be positive", detail=str(self.version))
        for kind, length in _HEX.items():
            value = getattr(self, kind)
            if value is not None and not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
                raise HashListError(f"malformed {kind}", detail=f"{length} lower-case hex digits")
        if self.live and not (self.sha256 or self.md5 or self.pdq):
            raise HashListError(
                "a list entry needs a SHA-256, MD5 or PDQ hash", detail=self.entry_id
            )

    @property
    def live(self) -> bool:
        """Whether the entry is on the list (not withdrawn)."""
        return self.op != "WITHDRAW"

    def then(self, op: ListOp, *, note: str | None = None) -> ListUpdate:
        """Return the next update of this entry (a withdrawal drops the hashes)."""
        out = replace(self, op=op, version=next_version(self.version), note=note, at=_now())
        if op == "WITHDRAW":
            out = replace(out, sha256=None, md5=None, pdq=None)
        return out

    def record(self) -> dict[str, Any]:
        """Return the Avro record."""
        return asdict(self)


def sign_update(update: ListUpdate, *, identity: AgencyIdentity, layout: TopicLayout) -> bytes:
    """Return the signed record value of ``update`` (the owner's identity signs)."""
    if identity.agency != update.owner or identity.signing.key_id != update.key_id:
        raise HashListError(
            "only the list owner signs its updates",
            detail=f"{identity.agency}/{identity.signing.key_id} for {update.owner}",
        )
    store = SchemaStore.default()
    body = store.encode(_SCHEMA, update.record())
    message = frame(UPDATE_TAG, layout.hashlist(update.owner, update.list).encode(), body)
    return store.encode(
        _SIGNED,
        {
            "body": body,
            "ed25519": identity.signing.ed25519.sign(message),
            "ml_dsa_65": identity.signing.ml_dsa_65.sign(message, context=ML_DSA_CONTEXT),
        },
    )


def open_update(
    data: bytes, *, topic: str, layout: TopicLayout, trust: TrustStore, key: bytes | None = None
) -> ListUpdate:
    """Verify a record of hash-list ``topic`` and return its update.

    Raises :class:`ListSignatureError` unless both signatures verify under the
    owner's key certified for the update's time, and :class:`HashListError` if the
    update names another list or owner than its topic, or another entry than its key.
    """
    store = SchemaStore.default()
    try:
        signed = store.decode(_SIGNED, data)
        body: bytes = signed["body"]
        rec = store.decode(_SCHEMA, body)
    except SchemaError as exc:
        raise HashListError("malformed list update", detail=str(exc)) from exc
    try:
        owner, name = layout.hashlist_of(topic)
    except ConfigError as exc:
        raise HashListError("not a hash-list topic", detail=topic) from exc
    if (rec["owner"], rec["list"]) != (owner, name):
        raise HashListError(
            "list update names another list than its topic",
            detail=f"{rec['owner']}/{rec['list']} on {topic}",
        )
    if key is not None and key != str(rec["entry_id"]).encode():
        raise HashListError("record key is not the entry id", detail=repr(key))
    try:
        keys = trust.signing_key(agency=owner, key_id=rec["key_id"], at=rec["at"])
    except TrustError as exc:
        raise ListSignatureError("no valid owner key for the list update", detail=str(exc)) from exc
    message = frame(UPDATE_TAG, topic.encode(), body)
    try:
        keys.ed25519.verify(signed["ed25519"], message)
        keys.ml_dsa_65.verify(signed["ml_dsa_65"], message, context=ML_DSA_CONTEXT)
    except InvalidSignature:
        raise ListSignatureError("list update signature does not verify", detail=topic) from None
    return ListUpdate(**rec)
