"""The audit trail: hash-chained, secret-free records of every decision, credential release,
revocation and ledger change; file and stdout sinks; verification; anchoring in a ConfigMap
(one per replica).

No kopf here: the handlers and the key broker call `AuditTrail.append`. Format and guarantees
are in docs/audit.md.
"""

from __future__ import annotations

from voxgate.audit.anchor import (
    DEFAULT_ANCHOR_NAME,
    AnchorStore,
    StoredAnchor,
    anchor_name,
    should_anchor,
)
from voxgate.audit.anchorer import Anchorer
from voxgate.audit.canonical import GENESIS_DIGEST, canonical_json
from voxgate.audit.errors import (
    AnchorConflict,
    AnchorError,
    AnchorMismatch,
    AnchorRegression,
    AuditError,
    AuditWriteError,
    BrokenTrail,
    MalformedRecord,
    TrailClosed,
    TrailLocked,
    UnsafeDetails,
)
from voxgate.audit.record import (
    GENESIS,
    AuditEntry,
    AuditRecord,
    ChainHead,
    Event,
    Subject,
    chain,
    format_time,
    parse_record,
)
from voxgate.audit.scrub import DETAIL_KEYS, REDACTED, looks_like_secret, scrub_details
from voxgate.audit.trail import AuditTrail, FsyncPolicy
from voxgate.audit.verify import Break, VerifyResult, verify_file, verify_lines

__all__ = [
    "DEFAULT_ANCHOR_NAME",
    "DETAIL_KEYS",
    "GENESIS",
    "GENESIS_DIGEST",
    "REDACTED",
    "AnchorConflict",
    "AnchorError",
    "AnchorMismatch",
    "AnchorRegression",
    "AnchorStore",
    "Anchorer",
    "AuditEntry",
    "AuditError",
    "AuditRecord",
    "AuditTrail",
    "AuditWriteError",
    "Break",
    "BrokenTrail",
    "ChainHead",
    "Event",
    "FsyncPolicy",
    "MalformedRecord",
    "StoredAnchor",
    "Subject",
    "TrailClosed",
    "TrailLocked",
    "UnsafeDetails",
    "VerifyResult",
    "anchor_name",
    "canonical_json",
    "chain",
    "format_time",
    "looks_like_secret",
    "parse_record",
    "scrub_details",
    "should_anchor",
    "verify_file",
    "verify_lines",
]
