"""Byte layout of sealed shards and wrapped keys (specified in docs/sealed-format.md).

Everything here is a pure function of its arguments so that the test vectors in
tests/vectors/sealed/ pin the format byte for byte.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from voxgate.sealed.errors import BadManifest

FORMAT_VERSION = 2  # 2: shard digests are BLAKE3 (`digest`), no longer SHA-256 (`sha256`)
SHARD_MAGIC = b"VXGSHARD"
WRAP_MAGIC = b"VXGKWRAP"
SIGNING_CONTEXT = b"voxgate.io/sealed-manifest/v1\n"
SHARD_SUFFIX = ".vxs"

KEY_SIZE = 32  # AES-256
NONCE_SIZE = 12  # 96-bit GCM nonce
TAG_SIZE = 16  # full 128-bit GCM tag
WRAPPED_DEK_SIZE = NONCE_SIZE + KEY_SIZE + TAG_SIZE

DEFAULT_CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 64 << 20  # bounds the memory one chunk may take while unsealing

_DATASET_ID = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$"
)
_SHARD_ID = re.compile(r"^[0-9a-f]{32}$")


def check_dataset_id(dataset_id: str) -> str:
    """A dataset id is a SpeechDataset name, optionally prefixed by its namespace and '/'."""
    if not _DATASET_ID.fullmatch(dataset_id):
        raise BadManifest(
            f"dataset id {dataset_id!r} is not a lowercase DNS name (optionally 'namespace/name')"
        )
    return dataset_id


def check_shard_id(shard_id: str) -> str:
    if not _SHARD_ID.fullmatch(shard_id):
        raise BadManifest(f"shard id {shard_id!r} is not 32 lowercase hex digits")
    return shard_id


def check_chunk_size(chunk_size: int) -> int:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise BadManifest(f"chunk size {chunk_size} is outside 1..{MAX_CHUNK_SIZE} bytes")
    return chunk_size


def _prefixed(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def shard_header(dataset_id: str, shard_id: str, version: int = FORMAT_VERSION) -> bytes:
    """The cleartext header that opens every shard file and prefixes every chunk's AAD."""
    return SHARD_MAGIC + struct.pack(">H", version) + _prefixed(dataset_id) + _prefixed(shard_id)


def chunk_nonce(index: int) -> bytes:
    """4 zero bytes then the chunk index as u64 big-endian: unique per chunk under a shard's DEK."""
    return b"\x00\x00\x00\x00" + struct.pack(">Q", index)


def chunk_aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if last else 0)


def wrap_aad(dataset_id: str, shard_id: str, kek_id: str, kek_version: int) -> bytes:
    """What a wrapped DEK is bound to: moving it to another shard, dataset or KEK fails."""
    return (
        WRAP_MAGIC
        + struct.pack(">H", FORMAT_VERSION)
        + _prefixed(dataset_id)
        + _prefixed(shard_id)
        + _prefixed(kek_id)
        + struct.pack(">I", kek_version)
    )


def chunk_count(plaintext_size: int, chunk_size: int) -> int:
    """Every shard has at least one chunk: an empty file is one empty, authenticated last chunk."""
    return max(1, -(-plaintext_size // chunk_size))


def ciphertext_size(header_size: int, plaintext_size: int, chunk_size: int) -> int:
    return header_size + plaintext_size + TAG_SIZE * chunk_count(plaintext_size, chunk_size)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, ASCII only, no floats: one byte string per value."""
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _reject_floats(value: Any) -> None:
    # Float formatting differs between JSON implementations, which would break signatures.
    if isinstance(value, float):
        raise BadManifest("the manifest may not contain floating-point numbers")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list):
        for item in value:
            _reject_floats(item)
