"""Errors of the audit trail: one-line messages that name what is wrong and never quote secrets."""

from __future__ import annotations


class AuditError(ValueError):
    """Base class: an audit record, trail or anchor is unusable."""


class UnsafeDetails(AuditError):
    """Record details with a key outside the allow-list, or a value that is not plain JSON.

    Keys and value types are fixed by the calling code, so this is a programming error that the
    caller's unit tests find; values that look like secrets are redacted and values that are too
    long are cut or dropped, never refused, because values can come from users.
    """


class MalformedRecord(AuditError):
    """A line of a trail file is not an audit record in the documented format."""


class BrokenTrail(AuditError):
    """A trail file whose chain is broken: it is not continued and not trusted."""


class TrailClosed(AuditError):
    """Append after close, or after a failed write left the file in an unknown state."""


class AuditWriteError(AuditError):
    """Writing or syncing a record failed; the trail refuses further appends until reopened."""


class AnchorError(AuditError):
    """The anchor ConfigMap is unreadable, foreign or malformed, or the API server refused us."""


class AnchorConflict(AnchorError):
    """Someone else changed the anchor since it was read (the compare-and-swap lost)."""


class AnchorRegression(AnchorError):
    """The head to anchor is older than the stored anchor: anchors never move backwards."""


class AnchorMismatch(AnchorError):
    """The stored anchor names a record that the trail does not contain (truncated or rewritten)."""


class TrailLocked(AuditError):
    """Another process holds the trail file open for writing; two writers would fork the chain."""
