"""Who this replica is in the Lease."""

from __future__ import annotations

import secrets
import socket


def default_identity(replica: str) -> str:
    """The pod's name (settings.replica, from POD_NAME) if known, else the host name with a
    random suffix, as client-go does: two processes on one host must never share an identity,
    or each would take the other's lease for its own."""
    if replica:
        return replica
    return f"{socket.gethostname()}_{secrets.token_hex(4)}"
