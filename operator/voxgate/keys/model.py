"""Names and values shared by every KEK provider."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voxgate.keys.errors import KeyStoreError

KEK_SIZE = 32
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "voxgate"

_KEK_ID = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class KekRef:
    """One version of one KEK, as a manifest names it."""

    id: str
    version: int

    def __str__(self) -> str:
        return f"{self.id} v{self.version}"


@dataclass(frozen=True)
class KekVersion:
    version: int
    created_at: str


def check_kek_id(kek_id: str) -> str:
    if not _KEK_ID.fullmatch(kek_id):
        raise KeyStoreError(f"KEK name {kek_id!r} is not a DNS label (a-z, 0-9, '-', 1..63)")
    return kek_id


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_key(size: int = KEK_SIZE) -> bytearray:
    """Fresh random key material in a mutable buffer, so the holder can wipe it after use."""
    key = bytearray(size)
    urandom = Path("/dev/urandom")
    if urandom.exists():
        with urandom.open("rb", buffering=0) as source:
            got = source.readinto(key)
        if got == size:
            return key
    key[:] = os.urandom(size)
    return key


def wipe(buffer: bytearray | None) -> None:
    """Overwrite key material in place (best effort: Python may hold other copies)."""
    if buffer is not None:
        buffer[:] = bytes(len(buffer))
