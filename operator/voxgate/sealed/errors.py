"""Errors of sealing, unsealing and key handling.

Every error is a `SealError` (a ValueError) with a one-line message that names what is wrong and,
where it helps, what to do. Messages never contain key material or audio.
"""

from __future__ import annotations

# Key-store errors live with the key stores (voxgate.keys sits below voxgate.sealed); they are
# re-exported here so callers of the sealed API find every error in one place.
from voxgate.keys.errors import KekExists, KekInUse, KeyStoreError, UnknownKek, UnknownKekVersion

__all__ = [
    "BadAudio",
    "BadManifest",
    "BadSignature",
    "BadSigningKey",
    "Cancelled",
    "KekExists",
    "KekInUse",
    "KeyStoreError",
    "KeyUnwrapFailed",
    "MissingShard",
    "OutputConflict",
    "SealError",
    "TamperedChunk",
    "TamperedShard",
    "TruncatedShard",
    "UnknownKek",
    "UnknownKekVersion",
    "WrongDataset",
    "WrongShard",
]


class SealError(ValueError):
    """Base class: sealed data, its manifest or its keys are unusable."""


class BadManifest(SealError):
    """The manifest is malformed, of an unsupported version, or inconsistent."""


class BadSignature(SealError):
    """The manifest signature does not verify against the expected Ed25519 public key."""


class WrongDataset(SealError):
    """The manifest or a shard belongs to a different dataset than expected."""


class WrongShard(SealError):
    """A shard file holds a different shard of the same dataset (files swapped or renamed)."""


class MissingShard(SealError):
    """A shard the manifest lists is not in the shard directory."""


class TruncatedShard(SealError):
    """A shard file is shorter than the manifest says (chunks dropped)."""


class TamperedShard(SealError):
    """A shard file has extra bytes, a foreign header or a digest other than the manifest's."""


class TamperedChunk(SealError):
    """A chunk failed authentication: modified, reordered, moved or decrypted with a wrong key."""


class KeyUnwrapFailed(SealError):
    """A wrapped data key did not unwrap under the KEK version the manifest names."""


class BadSigningKey(SealError):
    """The Ed25519 signing key file is missing, malformed or readable by others."""


class BadAudio(SealError):
    """An audio file failed the checks the dataset declares, or is of an unsupported format."""


class OutputConflict(SealError):
    """The output location already holds a file the operation would overwrite."""


class Cancelled(SealError):
    """Work stopped because another part of the same run failed; that failure is reported."""


class SealIOError(SealError):
    """Reading or writing a file failed (disk full, permission denied, ...)."""
