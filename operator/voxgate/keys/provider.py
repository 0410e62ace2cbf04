"""The interface every KEK store implements (a JSON keyring, Kubernetes Secrets, later a KMS)."""

from __future__ import annotations

from typing import Protocol

from voxgate.keys.model import KekVersion


class KekProvider(Protocol):
    """Versioned key-encryption keys.

    Versions are numbered 1, 2, ... and never reused, even after retirement. The newest version
    wraps new data keys; older versions stay readable until retired. Errors are SealErrors:
    UnknownKek, UnknownKekVersion, KekExists, KekInUse, KeyStoreError.
    """

    def get(self, kek_id: str, version: int) -> bytearray:
        """The key material of one version, in a buffer the caller wipes after use."""
        ...

    def latest_version(self, kek_id: str) -> int: ...

    def create(self, kek_id: str) -> int:
        """Create the KEK with a random version 1; returns 1."""
        ...

    def rotate(self, kek_id: str) -> int:
        """Add a new random version and return its number; it becomes the newest."""
        ...

    def retire(self, kek_id: str, version: int) -> None:
        """Delete one version's key material for good; the newest version cannot be retired."""
        ...

    def versions(self, kek_id: str) -> list[KekVersion]:
        """The live (not retired) versions, oldest first."""
        ...

    def kek_ids(self) -> list[str]: ...
