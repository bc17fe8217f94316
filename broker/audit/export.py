"""Offline audit archives: Avro container files plus a signed manifest.

``broker audit export DIR --as AGENCY`` writes::

    DIR/events.avro        eu.fed.AuditArchiveRecord per audit event (exact bytes), log order
    DIR/checkpoints.avro   the same for every checkpoint record
    DIR/manifest.json      file SHA-256s and counts, per-stream sizes and newest checkpoint notes
    DIR/manifest.sig       the exporter's Ed25519 + ML-DSA-65 signatures over manifest.json

The same verifier then runs on the archive with no Kafka: the manifest signature
is checked against the federation's certificate of the exporter's key, file
hashes against the manifest, and the manifest's checkpoint notes serve as
checkpoints known outside the log (truncation). An archive of years-old events
still verifies with the current code: event schemas resolve by fingerprint.

Example::

    write_archive(directory, records, exporter=identity)
    records, external, problems = read_archive(directory, trust=trust)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastavro
from cryptography.exceptions import InvalidSignature

from broker._internal.framing import frame
from broker.audit.events import CHECKPOINT_SCHEMA
from broker.audit.findings import RawRecord
from broker.codec import SchemaStore, schemas_dir
from broker.errors import AuditError, Error
from broker.trust import AgencyIdentity, TrustStore

__all__ = ["ArchiveContents", "read_archive", "write_archive"]

FORMAT = "fed-audit-archive-v1"
_STATEMENT = "fed-audit-manifest-v1"
_CONTEXT = b"fed-audit-v1"
EVENTS, CHECKPOINTS, MANIFEST, SIGNATURE = (
    "events.avro",
    "checkpoints.avro",
    "manifest.json",
    "manifest.sig",
)


def _archive_schema() -> Any:
    raw = json.loads((schemas_dir() / "eu.fed.AuditArchiveRecord.avsc").read_text())
    return fastavro.parse_schema(raw)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_checkpoint(value: bytes) -> bool:
    return value[2:10] == SchemaStore.default().fingerprint(CHECKPOINT_SCHEMA)


def write_archive(
    directory: Path,
    records: Sequence[RawRecord],
    *,
    exporter: AgencyIdentity,
    topic: str,
    streams: dict[str, dict[str, Any]],
    latest_notes: dict[str, bytes],
) -> dict[str, Any]:
    """Write the archive; return the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    if any((directory / n).exists() for n in (EVENTS, CHECKPOINTS, MANIFEST, SIGNATURE)):
        raise AuditError("export directory already holds an archive", detail=str(directory))
    schema = _archive_schema()
    files: dict[str, Any] = {}
    for name, pick in ((EVENTS, False), (CHECKPOINTS, True)):
        rows = [
            {"partition": r.partition, "offset": r.offset, "key": r.key, "value": r.value}
            for r in records
            if _is_checkpoint(r.value) == pick
        ]
        with (directory / name).open("wb") as fh:
            fastavro.writer(fh, schema, rows, codec="deflate")
        files[name] = {"sha256": _sha256(directory / name), "records": len(rows)}
    manifest = {
        "format": FORMAT,
        "topic": topic,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "exporter": {"agency": exporter.agency, "key_id": exporter.signing.key_id},
        "files": files,
        "streams": streams,
        "checkpoints": {s: n.decode() for s, n in sorted(latest_notes.items())},
    }
    body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (directory / MANIFEST).write_bytes(body)
    message = frame(_STATEMENT, body)
    signature = {
        "ed25519": base64.b64encode(exporter.signing.ed25519.sign(message)).decode(),
        "ml_dsa_65": base64.b64encode(
            exporter.signing.ml_dsa_65.sign(message, context=_CONTEXT)
        ).decode(),
    }
    (directory / SIGNATURE).write_text(json.dumps(signature, indent=2) + "\n")
    return manifest


class ArchiveContents:
    """What :func:`read_archive` found: records, outside checkpoints, archive problems."""

    def __init__(
        self,
        *,
        records: list[RawRecord],
        external: list[bytes],
        problems: list[str],
        exported_at: dt.datetime | None = None,
    ) -> None:
        self.records = records
        self.external = external
        self.problems = problems
        #: The signed manifest's export time: the reference time for freshness.
        self.exported_at = exported_at


def _read_rows(path: Path, problems: list[str]) -> list[RawRecord]:
    try:
        with path.open("rb") as fh:
            rows = list(fastavro.reader(fh))
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
        return []
    except (ValueError, EOFError, OSError, TypeError) as exc:
        problems.append(f"{path.name} is not a readable Avro container file: {exc}")
        return []
    out = []
    for row in rows:
        if not isinstance(row, dict):
            problems.append(f"{path.name} holds a non-record row")
            continue
        out.append(
            RawRecord(
                partition=row["partition"], offset=row["offset"], key=row["key"], value=row["value"]
            )
        )
    return out


def _check_manifest(directory: Path, trust: TrustStore, problems: list[str]) -> dict[str, Any]:
    try:
        body = (directory / MANIFEST).read_bytes()
        manifest: dict[str, Any] = json.loads(body)
        sig = json.loads((directory / SIGNATURE).read_text())
        exporter = manifest["exporter"]
        at = dt.datetime.fromisoformat(manifest["exported_at"])
        keys = trust.signing_key(agency=exporter["agency"], key_id=exporter["key_id"], at=at)
        message = frame(_STATEMENT, body)
        keys.ed25519.verify(base64.b64decode(sig["ed25519"]), message)
        keys.ml_dsa_65.verify(base64.b64decode(sig["ml_dsa_65"]), message, context=_CONTEXT)
    except FileNotFoundError as exc:
        raise AuditError("not an audit archive", detail=str(exc)) from None
    except InvalidSignature:
        raise AuditError(
            "the archive manifest's signature does not verify", detail=str(directory)
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError("malformed archive manifest", detail=str(exc)) from exc
    except Error as exc:
        raise AuditError("the archive exporter's key is not trusted", detail=exc.message) from exc
    if manifest.get("format") != FORMAT:
        raise AuditError("unknown archive format", detail=str(manifest.get("format")))
    for name, info in manifest["files"].items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name} listed in the signed manifest is missing")
        elif _sha256(path) != info["sha256"]:
            problems.append(f"{name} does not match the SHA-256 in the signed manifest")
    return manifest


def read_archive(directory: Path, *, trust: TrustStore) -> ArchiveContents:
    """Read and check an archive (signature, hashes); raise if the manifest is not authentic."""
    problems: list[str] = []
    manifest = _check_manifest(directory, trust, problems)
    records = _read_rows(directory / EVENTS, problems) + _read_rows(
        directory / CHECKPOINTS, problems
    )
    external = [note.encode() for note in manifest.get("checkpoints", {}).values()]
    return ArchiveContents(
        records=records,
        external=external,
        problems=problems,
        exported_at=dt.datetime.fromisoformat(manifest["exported_at"]),
    )
