"""Where unseal gets its data keys: the `DekProvider` protocol and the local implementation.

Unseal hands a provider everything needed to release keys for one manifest: the dataset, the
manifest digest, the KEK version and every shard's wrapped DEK. The key broker client (later)
sends this over HTTPS with the pod's ServiceAccount token; the broker unwraps with the wrap AAD
built from the dataset *it* authorised, so wrapped keys of any other dataset fail to unwrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voxgate.keys.model import KekRef, wipe
from voxgate.keys.provider import KekProvider
from voxgate.sealed.keywrap import unwrap_dek
from voxgate.sealed.manifest import Manifest


@dataclass(frozen=True)
class WrappedDek:
    shard_id: str
    wrapped: bytes


@dataclass(frozen=True)
class DekRequest:
    dataset_id: str
    manifest_digest: str
    kek: KekRef
    shards: tuple[WrappedDek, ...]

    @classmethod
    def for_manifest(cls, manifest: Manifest) -> DekRequest:
        wrapped = tuple(WrappedDek(s.id, s.wrapped_dek) for s in manifest.shards)
        return cls(manifest.dataset_id, manifest.digest(), manifest.kek, wrapped)


class DekProvider(Protocol):
    def fetch(self, request: DekRequest) -> dict[str, bytearray]:
        """One unwrapped 32-byte DEK per requested shard id, in buffers the caller wipes.

        Raises a SealError (UnknownKek, UnknownKekVersion, KeyUnwrapFailed, ...) or releases
        nothing.
        """
        ...


class LocalDekProvider:
    """Unwraps with a KEK read from a local store: for stewards, tests and the broker itself."""

    def __init__(self, keks: KekProvider) -> None:
        self.keks = keks

    def fetch(self, request: DekRequest) -> dict[str, bytearray]:
        kek = self.keks.get(request.kek.id, request.kek.version)
        deks: dict[str, bytearray] = {}
        try:
            for item in request.shards:
                deks[item.shard_id] = unwrap_dek(
                    kek, request.kek, request.dataset_id, item.shard_id, item.wrapped
                )
        except BaseException:
            for dek in deks.values():
                wipe(dek)
            raise
        finally:
            wipe(kek)
        return deks
