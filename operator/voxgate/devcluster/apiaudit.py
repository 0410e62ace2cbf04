"""Reading the local API server's audit log: which identity wrote what, and what it was refused.

The log is the API server's own record (ControlPlane(audit_log=True)), so it shows the identity
a request really authenticated as, whatever the client claims about itself.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORBIDDEN = 403


@dataclass
class Writes:
    """Completed write requests of one user, by "verb resource[.group][/subresource]"."""

    username: str
    allowed: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.allowed.values()) + sum(self.refused.values())


def _request(event: dict[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    resource = str(ref.get("resource", "?"))
    if ref.get("apiGroup"):
        resource += "." + str(ref["apiGroup"])
    if ref.get("subresource"):
        resource += "/" + str(ref["subresource"])
    return f"{event.get('verb', '?')} {resource}"


def writes_by(log: Path, username: str) -> Writes:
    """What `username` wrote; a response code of 403 counts as refused (RBAC or admission)."""
    writes = Writes(username)
    if not log.exists():
        return writes
    with log.open() as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a log still being written
            if (event.get("user") or {}).get("username") != username:
                continue
            if event.get("stage") != "ResponseComplete":
                continue
            code = (event.get("responseStatus") or {}).get("code", 0)
            (writes.refused if code == FORBIDDEN else writes.allowed)[_request(event)] += 1
    return writes
