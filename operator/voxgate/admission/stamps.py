"""What the mutating webhook writes: who requested an object, who approved and revoked a grant.

The stamps are derived only from the request identity and from what the stored object already
says (on UPDATE), so a user can neither forge them nor remove them: anything written into these
annotations by hand is overwritten or dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.admission.identity import APPROVED_BY, REQUESTED_BY, REVOKED_BY, Identity

Object = dict[str, Any]


@dataclass(frozen=True)
class ObjectChange:
    """One admission request: the operation, the object as sent, the stored one, and who asked."""

    operation: str  # CREATE, UPDATE, DELETE or CONNECT
    new: Mapping[str, Any]
    old: Mapping[str, Any] | None
    user: Identity

    @property
    def kind(self) -> str:
        return str(self.new.get("kind", ""))

    def flag(self, name: str) -> tuple[bool, bool]:
        """spec.<name> before and after this request (absent counts as false)."""
        before = bool(((self.old or {}).get("spec") or {}).get(name))
        after = bool((self.new.get("spec") or {}).get(name))
        return before, after


def annotation_changes(change: ObjectChange) -> dict[str, str | None]:
    """The stamp annotations to set (a value) or to remove (None); empty when all are right."""
    if change.operation not in ("CREATE", "UPDATE"):
        return {}
    desired = {REQUESTED_BY: _requested_by(change)}
    if change.kind == "DataGrant":
        desired[APPROVED_BY] = _flipped_by(change, "approved", APPROVED_BY)
        desired[REVOKED_BY] = _flipped_by(change, "revoked", REVOKED_BY)
    current = _annotations(change.new)
    return {key: value for key, value in desired.items() if current.get(key) != value}


def with_requester(obj: Mapping[str, Any], user: Identity) -> Object:
    """A copy of `obj` stamped as requested by `user` (what the mutating webhook does on CREATE)."""
    out: Object = copy.deepcopy(dict(obj))
    metadata = out.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    annotations[REQUESTED_BY] = user.stamp()
    metadata["annotations"] = annotations
    return out


def _requested_by(change: ObjectChange) -> str | None:
    if change.operation == "CREATE":
        return change.user.stamp()
    # The requester never changes; an object created before the webhook existed stays unstamped.
    return _annotations(change.old).get(REQUESTED_BY)


def _flipped_by(change: ObjectChange, flag: str, key: str) -> str | None:
    """Who set spec.<flag> to true: this user if it flips now, the recorded one if it stays."""
    before, after = change.flag(flag)
    if not after:
        return None
    if not before:
        return change.user.stamp()
    return _annotations(change.old).get(key)


def _annotations(obj: Mapping[str, Any] | None) -> dict[str, str]:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return {str(k): str(v) for k, v in annotations.items()}
