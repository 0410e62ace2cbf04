"""The audit record, its digest, and `chain`: the one way a new record is made.

A record is one JSON object per line:
    {"actor", "details", "digest", "event", "prev", "seq", "subject", "time"}
`digest` is sha256 over the canonical JSON of the record without `digest`; `prev` is the digest of
the record before it (GENESIS_DIGEST for the first, seq 1). Editing, removing, reordering or
inserting a record breaks a digest, a prev link or the seq sequence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from voxgate.audit.canonical import (
    DIGEST_PATTERN,
    GENESIS_DIGEST,
    NotCanonical,
    canonical_json,
    sha256_digest,
)
from voxgate.audit.errors import AuditError, MalformedRecord
from voxgate.audit.scrub import DETAIL_KEYS, redact_text, scrub_details

RECORD_KEYS = frozenset({"seq", "time", "event", "actor", "subject", "details", "prev", "digest"})
SUBJECT_KEYS = frozenset({"kind", "namespace", "name", "uid"})
MAX_ACTOR = 256
_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


class Event(StrEnum):
    """The events voxgate records; any dotted lower-case name is accepted, these are the known."""

    DECISION_ALLOWED = "decision.allowed"
    DECISION_DENIED = "decision.denied"
    CREDENTIALS_RELEASED = "credentials.released"
    CREDENTIALS_REFUSED = "credentials.refused"
    CREDENTIALS_REVOKED = "credentials.revoked"
    LEDGER_RESERVED = "ledger.reserved"
    LEDGER_CHARGED = "ledger.charged"
    LEDGER_SETTLED = "ledger.settled"
    LEDGER_RELEASED = "ledger.released"
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_REVOKED = "job.revoked"
    GRANT_EXPIRED = "grant.expired"
    GRANT_REVOKED = "grant.revoked"


@dataclass(frozen=True)
class Subject:
    """The object a record is about (a TrainingJob, DataGrant, SpeechDataset, ServiceAccount...)."""

    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Subject:
        """The subject of a Kubernetes object as a dict (kopf body, API response)."""
        metadata = body.get("metadata") or {}
        return cls(
            kind=str(body.get("kind") or ""),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
            uid=str(metadata.get("uid") or ""),
        )

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "uid": self.uid}


@dataclass(frozen=True)
class AuditEntry:
    """What happened, before it is chained: the caller's part of a record."""

    event: str
    actor: str
    subject: Subject
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainHead:
    """The last record of a chain: what the next record links to, and what an anchor stores."""

    seq: int
    digest: str


GENESIS = ChainHead(seq=0, digest=GENESIS_DIGEST)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: str
    event: str
    actor: str
    subject: Subject
    details: Mapping[str, Any]
    prev: str
    digest: str

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.seq, self.digest)

    def unsigned(self) -> dict[str, Any]:
        """The record without its digest: what the digest is computed over."""
        return {
            "seq": self.seq,
            "time": self.time,
            "event": self.event,
            "actor": self.actor,
            "subject": self.subject.as_dict(),
            "details": dict(self.details),
            "prev": self.prev,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.unsigned(), "digest": self.digest}

    def computed_digest(self) -> str:
        return sha256_digest(canonical_json(self.unsigned()))

    def line(self) -> bytes:
        """The record as it is written to a trail file: canonical JSON and a newline."""
        return canonical_json(self.as_dict()) + b"\n"


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. 2026-05-01T12:00:00.000000Z."""
    if at.tzinfo is None:
        raise AuditError("audit times must be timezone-aware (use datetime.now(UTC))")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain(
    prev_digest: str,
    seq: int,
    entry: AuditEntry,
    at: datetime,
    allowed_keys: frozenset[str] = DETAIL_KEYS,
) -> AuditRecord:
    """The record `seq` that follows the record with digest `prev_digest` (pure).

    Details go through the scrubber (allow-listed keys, credentials redacted); so do the actor
    and the subject, which can hold user-chosen text.
    """
    if not DIGEST_PATTERN.match(prev_digest):
        raise AuditError("prev_digest must be 'sha256:' and 64 lower-case hex digits")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise AuditError(f"seq must be a positive integer, not {seq!r}")
    if seq == 1 and prev_digest != GENESIS_DIGEST:
        raise AuditError("record 1 must link to the genesis digest")
    event = str(entry.event)
    if not _EVENT.match(event):
        raise AuditError(f"event {event[:60]!r} is not a dotted lower-case name (ledger.charged)")
    actor = _safe_text(entry.actor)
    if not actor or len(actor) > MAX_ACTOR:
        raise AuditError(f"actor must be 1 to {MAX_ACTOR} characters")
    subject = entry.subject
    safe_subject = Subject(
        kind=_safe_text(subject.kind),
        namespace=_safe_text(subject.namespace),
        name=_safe_text(subject.name),
        uid=_safe_text(subject.uid),
    )
    if not safe_subject.kind:
        raise AuditError("subject.kind must not be empty")
    unsigned = AuditRecord(
        seq=seq,
        time=format_time(at),
        event=event,
        actor=actor,
        subject=safe_subject,
        details=scrub_details(entry.details, allowed_keys),
        prev=prev_digest,
        digest="",
    )
    return _with_digest(unsigned)


def _with_digest(record: AuditRecord) -> AuditRecord:
    try:
        digest = record.computed_digest()
    except NotCanonical as error:
        raise AuditError(str(error)) from None
    return replace(record, digest=digest)


def _safe_text(value: object) -> str:
    if not isinstance(value, str):
        raise AuditError(f"actor and subject fields must be strings, not {type(value).__name__}")
    return redact_text(value)[0]


def parse_record(line: bytes) -> AuditRecord:
    """One trail line (without its newline) as a record, strictly; the digest is not checked here.

    Strict means: valid UTF-8 JSON, exactly the documented keys (no duplicates), the documented
    types, and the line byte-for-byte in canonical form, so there is one way to write a record.
    """
    try:
        value = json.loads(
            line.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except UnicodeDecodeError:
        raise MalformedRecord("not UTF-8") from None
    except json.JSONDecodeError as error:
        raise MalformedRecord(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(value, dict):
        raise MalformedRecord("not a JSON object")
    record = _record_from_dict(value)
    if record.line() != line + b"\n":
        raise MalformedRecord("not in canonical JSON form (sorted keys, no whitespace)")
    return record


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedRecord(f"duplicate key {key[:40]!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise MalformedRecord(f"{name} is not allowed in canonical JSON")


def _record_from_dict(value: dict[str, Any]) -> AuditRecord:
    keys = set(value)
    if keys != RECORD_KEYS:
        missing = sorted(RECORD_KEYS - keys)
        extra = sorted(str(k)[:40] for k in keys - RECORD_KEYS)
        raise MalformedRecord(
            "wrong keys"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )
    seq = value["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise MalformedRecord("seq is not a positive integer")
    for key in ("time", "event", "actor", "prev", "digest"):
        if not isinstance(value[key], str):
            raise MalformedRecord(f"{key} is not a string")
    if not _TIME.match(value["time"]):
        raise MalformedRecord("time is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.frac]Z)")
    for key in ("prev", "digest"):
        if not DIGEST_PATTERN.match(value[key]):
            raise MalformedRecord(f"{key} is not 'sha256:' and 64 lower-case hex digits")
    subject = value["subject"]
    if not isinstance(subject, dict) or set(subject) != SUBJECT_KEYS:
        raise MalformedRecord("subject is not an object with kind, namespace, name and uid")
    if not all(isinstance(v, str) for v in subject.values()):
        raise MalformedRecord("subject fields are not strings")
    if not isinstance(value["details"], dict):
        raise MalformedRecord("details is not an object")
    return AuditRecord(
        seq=seq,
        time=value["time"],
        event=value["event"],
        actor=value["actor"],
        subject=Subject(**subject),
        details=value["details"],
        prev=value["prev"],
        digest=value["digest"],
    )
