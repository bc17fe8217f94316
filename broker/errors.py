"""Every error the broker raises, under one root.

The tree::

    Error                         root; .reason (stable code), .retriable, diagnostics()
    ├── ConfigError               bad settings, missing home directory, bad CLI input
    ├── LocalKafkaError           the local Kafka stack (java/maven missing, port clash, start-up)
    ├── TransportError            Kafka I/O, translated from aiokafka at one boundary
    │   ├── AccessDeniedError     the broker refused the operation (Kafka ACLs)
    │   ├── UndeliverableError    the broker refused one record for good (e.g. too large)
    │   └── RecordsExpiredError   records expired (topic retention) before they were read
    ├── MerkleError               a Merkle proof does not verify (RFC 9162)
    ├── ValidationError           a dossier or other payload failed validation (lists every problem)
    ├── SchemaError               Avro encode/decode, unknown fingerprint, incompatible schema
    ├── TrustError                federation trust: who may sign or receive what
    │   ├── UnknownAgencyError
    │   ├── UnknownKeyError
    │   ├── KeyNotYetValidError
    │   ├── KeyExpiredError
    │   ├── KeyRevokedError
    │   ├── WrongKeyUsageError
    │   ├── CertificateError      a certificate or revocation that does not verify
    │   ├── KindNotAllowedError   the access matrix forbids this message kind between these members
    │   ├── MisroutedReportError  a URL report sent to a member that does not cover its host country
    │   └── RegistryManifestError  public registry files disagree with the root-signed manifest
    │       └── RegistryRollbackError  the manifest is older than (or forks) one already seen
    ├── EnvelopeError             a sealed envelope was refused
    │   ├── MalformedEnvelopeError
    │   ├── UnsupportedVersionError
    │   ├── UnsupportedSuiteError
    │   ├── SignatureError
    │   ├── NotARecipientError
    │   ├── DecryptionError
    │   ├── ExpiredEnvelopeError
    │   ├── ReplayError
    │   ├── OversizedEnvelopeError  larger than MAX_ENVELOPE_BYTES (refused before any crypto)
    │   ├── StaleEnvelopeError    created longer ago than the router's transit window
    │   ├── MalformedPartError    a streamed dossier's part that does not decode or is out of bounds
    │   ├── DuplicatePartError    a second part at an index already stored
    │   ├── PartMismatchError     parts disagree with the signed manifest (count, chain, AEAD)
    │   ├── IncompleteDossierError  parts missing when the manifest came, or no manifest in time
    │   ├── DossierTooLargeError  larger than the configured maximum dossier size
    │   └── RecalledError         an envelope its owner recalled (refused from any Kafka copy)
    ├── AuditError                the audit log (tampering findings are data, not exceptions)
    │   ├── NoteError             a signed note or checkpoint is malformed
    │   │   └── NoteSignatureError  a known key's signature fails, or too few keys signed
    │   ├── ProofError            an inclusion proof does not prove what it claims
    │   └── WitnessError          a witness refuses to cosign (rollback, fork, bad note)
    ├── MatchingError             the hash index (broker.matching)
    │   ├── HashFormatError       a PDQ, SHA-256 or MD5 value that is not well formed
    │   ├── IndexCorruptError     a saved index is truncated, altered or of an unknown format
    │   └── HashListError         a hash-list update or file is malformed, or names another list
    │       └── ListSignatureError  a list update not signed by its list's owner
    ├── ConsoleAccessError        the analyst console (broker.console) refused an HTTP request
    │   ├── ConsoleSessionError   no valid session (the start-up access token was never exchanged)
    │   ├── CsrfError             a state-changing request without this session's CSRF token
    │   └── CrossOriginError      a request from another Origin, or addressed to another Host
    ├── NoticeError               a takedown notice: unknown, or a step its life cycle forbids
    ├── MediaError                hashing seized media (a bad file is counted, never raised)
    │   ├── MediaSourceError      the folder to hash is missing or not a directory
    │   └── MediaWorkerError      a hashing worker process died
    ├── ControlError              a recall, restriction or erasure that cannot be issued or applied
    │   ├── NotOwnerError         a control order not signed by the owner of the dossier it names
    │   ├── WideningError         a "restriction" that would widen the codes (a release: grant path)
    │   └── ShreddedError         the at-rest key of a stored dossier was destroyed (erased)
    └── RequestError              the request workflow (broker.requests)
        ├── UnknownRequestError   no such request received (or sent) by this agency
        ├── RequestClosedError    the request already has its final reply or refusal
        └── ConsentRequiredError  a reply would disclose another agency's restricted holding

The developer tools add ``ChaosError`` and ``BenchError`` (both under ``Error``)
in :mod:`broker.devtools`; the runtime never raises them.

Behaviour is carried by class attributes (``reason``, ``retriable``), never by
parsing messages. ``str(exc)`` is safe to show a peer: it never contains
plaintext, key material or which check of a cryptographic verification failed
beyond the class name. :meth:`Error.diagnostics` is for our own operators, logs,
dead-letter records and audit events, and may carry the precise cause.

Example::

    >>> from broker.errors import KeyRevokedError, TrustError
    >>> err = KeyRevokedError("signing key revoked", detail="key ES-PN/sig-2 revoked 2026-01-02")
    >>> isinstance(err, TrustError), err.reason, err.retriable
    (True, 'key-revoked', False)
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuditError",
    "CertificateError",
    "ConfigError",
    "ConsentRequiredError",
    "ConsoleAccessError",
    "ConsoleSessionError",
    "ControlError",
    "CrossOriginError",
    "CsrfError",
    "DecryptionError",
    "DossierTooLargeError",
    "DuplicatePartError",
    "EnvelopeError",
    "Error",
    "ExpiredEnvelopeError",
    "HashFormatError",
    "HashListError",
    "IncompleteDossierError",
    "IndexCorruptError",
    "KeyExpiredError",
    "KeyNotYetValidError",
    "KeyRevokedError",
    "KindNotAllowedError",
    "ListSignatureError",
    "LocalKafkaError",
    "MalformedEnvelopeError",
    "MalformedPartError",
    "MatchingError",
    "MediaError",
    "MediaSourceError",
    "MediaWorkerError",
    "MerkleError",
    "MisroutedReportError",
    "NotARecipientError",
    "NotOwnerError",
    "NoteError",
    "NoteSignatureError",
    "NoticeError",
    "OversizedEnvelopeError",
    "PartMismatchError",
    "ProofError",
    "RecalledError",
    "RecordsExpiredError",
    "RegistryManifestError",
    "RegistryRollbackError",
    "ReplayError",
    "RequestClosedError",
    "RequestError",
    "SchemaError",
    "ShreddedError",
    "SignatureError",
    "StaleEnvelopeError",
    "TransportError",
    "TrustError",
    "UndeliverableError",
    "UnknownAgencyError",
    "UnknownKeyError",
    "UnknownRequestError",
    "UnsupportedSuiteError",
    "UnsupportedVersionError",
    "ValidationError",
    "WideningError",
    "WitnessError",
    "WrongKeyUsageError",
]


class Error(Exception):
    """Root of every error this package raises on purpose."""

    #: Stable machine-readable code, used in dead-letter records, metrics and audit events.
    reason: str = "error"
    #: Whether retrying the same operation may succeed (network blips, leader elections).
    retriable: bool = False

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def diagnostics(self) -> str:
        """Return the operator-facing explanation, including the precise cause if known."""
        text = f"{type(self).__name__} [{self.reason}]: {self.message}"
        if self.detail:
            text += f"\n  detail: {self.detail}"
        cause = self.__cause__
        if cause is not None:
            text += f"\n  caused by: {type(cause).__name__}: {cause}"
        return text


class ConfigError(Error):
    """Settings, home directory or command-line input are not usable."""

    reason = "config"


class LocalKafkaError(Error):
    """The local Kafka stack could not be fetched, started, reached or stopped."""

    reason = "local-kafka"


class TransportError(Error):
    """Talking to Kafka failed; translated from aiokafka at the transport boundary."""

    reason = "transport"
    retriable = True


class AccessDeniedError(TransportError):
    """The broker refused the operation (Kafka ACLs): never retried."""

    reason = "access-denied"
    retriable = False


class UndeliverableError(TransportError):
    """The broker refused one record for good (too large for the topic, invalid): never retried.

    The router dead-letters the envelope with this reason instead of committing it away.
    """

    reason = "undeliverable"
    retriable = False


class RecordsExpiredError(TransportError):
    """Records expired (topic retention) before their consumer read them: a loss, audited."""

    reason = "expired-unread"
    retriable = False


class MerkleError(Error):
    """A Merkle proof does not verify, or a proof was asked for an impossible range."""

    reason = "bad-proof"


class ValidationError(Error):
    """A payload failed validation; ``problems`` lists every ``(field path, problem)``."""

    reason = "invalid-payload"

    def __init__(
        self,
        message: str,
        *,
        problems: list[tuple[str, str]] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.problems = problems or []

    def diagnostics(self) -> str:
        """Return every problem, one per line, after the summary."""
        lines = [super().diagnostics()]
        lines.extend(f"  {path}: {problem}" for path, problem in self.problems)
        return "\n".join(lines)


class SchemaError(Error):
    """Avro encoding or decoding failed, or a schema fingerprint is unknown."""

    reason = "schema"


class TrustError(Error):
    """A key or agency is not trusted for the operation asked of it."""

    reason = "untrusted"


class UnknownAgencyError(TrustError):
    """The agency is not a member of the federation."""

    reason = "unknown-agency"


class UnknownKeyError(TrustError):
    """No certificate in the registry carries this key id for this agency."""

    reason = "unknown-key"


class KeyNotYetValidError(TrustError):
    """The key's certificate is not valid yet at the time in question."""

    reason = "key-not-yet-valid"


class KeyExpiredError(TrustError):
    """The key's certificate had expired at the time in question."""

    reason = "key-expired"


class KeyRevokedError(TrustError):
    """The key was revoked by the federation root."""

    reason = "key-revoked"


class WrongKeyUsageError(TrustError):
    """The key is certified for another usage (e.g. encryption, not signing)."""

    reason = "wrong-key-usage"


class CertificateError(TrustError):
    """A key certificate or revocation does not verify against the federation root."""

    reason = "bad-certificate"


class KindNotAllowedError(TrustError):
    """The access matrix (:mod:`broker.topics`) forbids this message kind between these members.

    E.g. a police ``DOSSIER`` addressed to a hotline: the router dead-letters it.
    """

    reason = "kind-not-allowed"


class MisroutedReportError(TrustError):
    """A URL report reached a member that does not cover its hosting country (nor is the hub)."""

    reason = "misrouted-report"


class RegistryManifestError(TrustError):
    """The public registry does not match the root-signed registry manifest.

    A listed file is missing or altered, a registry file is present that the manifest
    does not list, or the manifest itself is missing or does not verify. Fail closed:
    deleting a revocation must never bring a key back.
    """

    reason = "bad-registry-manifest"


class RegistryRollbackError(RegistryManifestError):
    """The manifest is older than the newest this home has seen, or forks it (same version)."""

    reason = "registry-rollback"


class EnvelopeError(Error):
    """A sealed envelope was refused. ``str()`` is deliberately terse for peers."""

    reason = "envelope-rejected"


class MalformedEnvelopeError(EnvelopeError):
    """The bytes are not a well-formed envelope."""

    reason = "malformed"


class UnsupportedVersionError(EnvelopeError):
    """The envelope format version is unknown."""

    reason = "unsupported-version"


class UnsupportedSuiteError(EnvelopeError):
    """The cryptographic suite is unknown or not allowed."""

    reason = "unsupported-suite"


class SignatureError(EnvelopeError):
    """A signature, batch inclusion path or key commitment does not verify."""

    reason = "bad-signature"


class NotARecipientError(EnvelopeError):
    """The envelope is not addressed to this agency."""

    reason = "not-a-recipient"


class DecryptionError(EnvelopeError):
    """The key wrap or the content could not be decrypted."""

    reason = "decryption-failed"


class ExpiredEnvelopeError(EnvelopeError):
    """The envelope is past its expiry (or created implausibly far in the future)."""

    reason = "expired"


class ReplayError(EnvelopeError):
    """The envelope id was seen before, or the sender sequence went backwards."""

    reason = "replayed"


class OversizedEnvelopeError(EnvelopeError):
    """The record is larger than the maximum envelope size; refused before any decoding."""

    reason = "too-large"


class StaleEnvelopeError(EnvelopeError):
    """The envelope was created longer ago than the transit window allows (back-dating?)."""

    reason = "stale"


class MalformedPartError(EnvelopeError):
    """A part record that does not decode canonically, or whose fields are out of bounds."""

    reason = "malformed-part"


class DuplicatePartError(EnvelopeError):
    """A second record for a part index already stored (or a part of a finished dossier)."""

    reason = "duplicate-part"


class PartMismatchError(EnvelopeError):
    """The parts disagree with the signed manifest: count, chain root, sizes or AEAD tags."""

    reason = "part-mismatch"


class IncompleteDossierError(EnvelopeError):
    """Parts are missing when the manifest arrives, or no manifest came within the timeout."""

    reason = "incomplete"


class DossierTooLargeError(EnvelopeError):
    """The dossier is larger than the configured maximum dossier size."""

    reason = "dossier-too-large"


class RecalledError(EnvelopeError):
    """An envelope its owner recalled: refused from any copy (replay, offset reset)."""

    reason = "recalled"


class AuditError(Error):
    """The audit log could not be read, written or exported."""

    reason = "audit"


class NoteError(AuditError):
    """A signed note or checkpoint is malformed."""

    reason = "bad-note"


class NoteSignatureError(NoteError):
    """A known key's signature fails, or too few trusted keys signed."""

    reason = "bad-note-signature"


class ProofError(AuditError):
    """An inclusion proof does not prove what it claims."""

    # Stored in reports since the first audit release; kebab-case would change stored data.
    reason = "audit_proof"


class WitnessError(AuditError):
    """The witness refuses to cosign (rollback, fork, or a note it cannot verify)."""

    # Stored in reports since the first audit release; kebab-case would change stored data.
    reason = "witness_refused"


class MatchingError(Error):
    """The hash index could not add, match, save or load."""

    reason = "matching"


class HashFormatError(MatchingError):
    """A PDQ, SHA-256 or MD5 value is not well formed (length, hex digits, array shape)."""

    reason = "bad-hash"


class IndexCorruptError(MatchingError):
    """A saved index is truncated, altered or of an unknown format; it was not loaded."""

    reason = "index-corrupt"


class HashListError(MatchingError):
    """A hash-list update or import file is malformed, or names another list than its topic."""

    reason = "bad-list-update"


class ListSignatureError(HashListError):
    """A hash-list update whose signatures do not verify under its list owner's certified key."""

    reason = "list-signature"


class NoticeError(Error):
    """A takedown notice that does not exist, or a step its life cycle does not allow."""

    reason = "notice"


class ConsoleAccessError(Error):
    """The analyst console refused an HTTP request (answered 401/403 with this reason)."""

    reason = "console-access"


class ConsoleSessionError(ConsoleAccessError):
    """No valid session cookie: the access token printed at start-up was never exchanged."""

    reason = "console-session"


class CsrfError(ConsoleAccessError):
    """A state-changing request without the CSRF token of its session."""

    reason = "csrf-token"


class CrossOriginError(ConsoleAccessError):
    """A request whose Origin is not the console's own, or whose Host is not the console's."""

    reason = "cross-origin"


class MediaError(Error):
    """Hashing seized media failed as a whole (a single bad file is counted, never raised)."""

    reason = "media"


class MediaSourceError(MediaError):
    """The folder to hash does not exist, is not a directory, or cannot be listed."""

    reason = "media-source"


class MediaWorkerError(MediaError):
    """A hashing worker process died (e.g. a decoder crashed on a hostile file)."""

    reason = "media-worker"


class ControlError(Error):
    """A recall, restriction or erasure that cannot be issued or applied."""

    reason = "control"


class NotOwnerError(ControlError):
    """A control order not signed by the owner of the dossier it names."""

    reason = "not-owner"


class WideningError(ControlError):
    """A restriction that would widen a dossier's codes (a release goes through a grant)."""

    reason = "restriction-widens"


class ShreddedError(ControlError):
    """The at-rest key of a stored dossier was destroyed: the dossier was erased."""

    reason = "shredded"


class RequestError(Error):
    """The request workflow (:mod:`broker.requests`)."""

    reason = "request"


class UnknownRequestError(RequestError):
    """No such request was received (or sent) by this agency."""

    reason = "unknown-request"


class RequestClosedError(RequestError):
    """The request already has its final reply or a refusal."""

    reason = "request-closed"


class ConsentRequiredError(RequestError):
    """A reply would disclose another agency's restricted holding without its grant."""

    reason = "consent-required"
