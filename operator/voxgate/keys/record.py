"""The versions of one KEK as a pure value; providers only load and store it.

Keeping the rules here (numbering, what may be retired) means every store enforces the same ones.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace

from voxgate.keys.errors import KekInUse, KeyStoreError, UnknownKekVersion
from voxgate.keys.model import KEK_SIZE, KekVersion, new_key, utc_now, wipe


@dataclass(frozen=True)
class StoredVersion:
    key_b64: str  # as the store holds it; decoded only on get()
    created_at: str


@dataclass(frozen=True)
class KekRecord:
    kek_id: str
    live: dict[int, StoredVersion] = field(default_factory=dict)
    retired: frozenset[int] = frozenset()

    def latest(self) -> int:
        if not self.live:
            raise KeyStoreError(f"KEK {self.kek_id!r} has no live version")
        return max(self.live)

    def key(self, version: int) -> bytearray:
        stored = self.live.get(version)
        if stored is None:
            state = "was retired" if version in self.retired else "does not exist"
            raise UnknownKekVersion(f"KEK {self.kek_id!r} version {version} {state}")
        try:
            key = bytearray(base64.b64decode(stored.key_b64, validate=True))
        except (binascii.Error, ValueError):
            raise KeyStoreError(
                f"KEK {self.kek_id!r} version {version} is not valid base64"
            ) from None
        if len(key) != KEK_SIZE:
            wipe(key)
            raise KeyStoreError(f"KEK {self.kek_id!r} version {version} is not {KEK_SIZE} bytes")
        return key

    def versions(self) -> list[KekVersion]:
        return [KekVersion(v, self.live[v].created_at) for v in sorted(self.live)]

    def with_new_version(self) -> tuple[KekRecord, int]:
        version = max([0, *self.live, *self.retired]) + 1
        key = new_key()
        try:
            stored = StoredVersion(base64.b64encode(key).decode("ascii"), utc_now())
        finally:
            wipe(key)
        return replace(self, live={**self.live, version: stored}), version

    def without_version(self, version: int) -> KekRecord:
        if version not in self.live:
            state = "was already retired" if version in self.retired else "does not exist"
            raise UnknownKekVersion(f"KEK {self.kek_id!r} version {version} {state}")
        if version == self.latest():
            raise KekInUse(
                f"KEK {self.kek_id!r} version {version} is the newest; rotate before retiring it"
            )
        live = {v: s for v, s in self.live.items() if v != version}
        return replace(self, live=live, retired=self.retired | {version})


def new_record(kek_id: str) -> KekRecord:
    record, _ = KekRecord(kek_id).with_new_version()
    return record
