"""Request identities as the API server reports them, and as the webhook stamps them.

The stamp is a JSON object {"username", "groups"} in an annotation; the policy
(policies/voxgate/lib/identity) and the reconcilers read it back. Only the API server's
AdmissionReview userInfo is trusted as a source, never what a user wrote into the object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.policy.inputs import REQUESTED_BY

APPROVED_BY = "voxgate.io/approved-by"
REVOKED_BY = "voxgate.io/revoked-by"
STAMPS = (REQUESTED_BY, APPROVED_BY, REVOKED_BY)

__all__ = ["APPROVED_BY", "REQUESTED_BY", "REVOKED_BY", "STAMPS", "Identity", "InvalidUserInfo"]


class InvalidUserInfo(ValueError):
    """The AdmissionReview carries no usable userInfo (no username)."""


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...] = ()

    @classmethod
    def from_user_info(cls, user_info: Mapping[str, Any] | None) -> Identity:
        """The requester from AdmissionReview.request.userInfo."""
        username = (user_info or {}).get("username")
        if not isinstance(username, str) or not username:
            raise InvalidUserInfo("the admission request names no user (userInfo.username)")
        groups = (user_info or {}).get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InvalidUserInfo("userInfo.groups must be a list of strings")
        return cls(username, tuple(groups))

    @classmethod
    def from_annotation(cls, obj: Mapping[str, Any] | None, key: str) -> Identity | None:
        """The identity stamped under `key` on `obj`; None when absent or unreadable."""
        annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        raw = annotations.get(key)
        if not isinstance(raw, str):
            return None
        try:
            stamp = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(stamp, dict):
            return None
        try:
            return cls.from_user_info(stamp)
        except InvalidUserInfo:
            return None

    def in_group(self, group: str) -> bool:
        return group in self.groups

    def stamp(self) -> str:
        """The annotation value: compact JSON, username first, groups in the server's order."""
        return json.dumps(
            {"username": self.username, "groups": list(self.groups)}, separators=(",", ":")
        )
