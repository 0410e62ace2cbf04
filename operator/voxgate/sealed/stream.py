"""Chunked AES-256-GCM over one file, streaming: memory use is about two chunks, whatever the size.

Shard file = header || record_0 || ... || record_{n-1}, record_i = AES-256-GCM(DEK, nonce_i,
plaintext chunk i, AAD = header || u64 i || u8 last). Every chunk but the last holds exactly
chunk_size plaintext bytes; the last holds 0..chunk_size (0 only for an empty file).
"""

from __future__ import annotations

import hmac
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxgate.sealed.digest import format_digest, shard_hasher
from voxgate.sealed.errors import (
    Cancelled,
    TamperedChunk,
    TamperedShard,
    TruncatedShard,
    WrongDataset,
    WrongShard,
)
from voxgate.sealed.format import FORMAT_VERSION, SHARD_MAGIC, TAG_SIZE, chunk_aad, chunk_nonce
from voxgate.sealed.manifest import ShardEntry

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SealedStream:
    plaintext_size: int
    chunks: int
    ciphertext_size: int
    digest: str  # voxgate.sealed.digest form, for the manifest


def encrypt_stream(
    src: IO[bytes],
    dst: IO[bytes],
    dek: bytes | bytearray,
    header: bytes,
    chunk_size: int,
    *,
    progress: Progress | None = None,
) -> SealedStream:
    aead = AESGCM(dek)
    digest = shard_hasher(header)
    dst.write(header)
    written = len(header)
    current = _read_up_to(src, chunk_size)
    index = plaintext = 0
    while True:
        # Read one chunk ahead: whether this chunk is the last is part of its AAD.
        following = _read_up_to(src, chunk_size) if len(current) == chunk_size else b""
        last = not following
        record = aead.encrypt(chunk_nonce(index), current, chunk_aad(header, index, last))
        dst.write(record)
        digest.update(record)
        written += len(record)
        plaintext += len(current)
        if progress is not None:
            progress(len(current))
        if last:
            return SealedStream(plaintext, index + 1, written, format_digest(digest))
        current = following
        index += 1


@dataclass(frozen=True)
class ShardHeader:
    version: int
    dataset_id: str
    shard_id: str
    raw: bytes


def read_shard_header(src: IO[bytes], name: str) -> ShardHeader:
    raw = src.read(len(SHARD_MAGIC) + 2)
    if len(raw) < len(SHARD_MAGIC) + 2 or not raw.startswith(SHARD_MAGIC):
        raise TamperedShard(f"{name} is not a voxgate shard (bad magic)")
    (version,) = struct.unpack(">H", raw[len(SHARD_MAGIC) :])
    if version != FORMAT_VERSION:
        raise TamperedShard(f"{name} is sealed format version {version}, not {FORMAT_VERSION}")
    texts = []
    for _ in range(2):
        size_bytes = src.read(2)
        text = src.read(struct.unpack(">H", size_bytes)[0]) if len(size_bytes) == 2 else b""
        raw += size_bytes + text
        try:
            texts.append(text.decode("utf-8"))
        except UnicodeDecodeError:
            raise TamperedShard(f"{name} has a malformed header") from None
    return ShardHeader(version, texts[0], texts[1], raw)


def check_shard_header(found: ShardHeader, expected: bytes, dataset_id: str, shard_id: str) -> None:
    """Name the mix-up: a shard of another dataset, another shard of this one, or damage."""
    if found.dataset_id != dataset_id:
        raise WrongDataset(
            f"shard {shard_id} belongs to dataset {found.dataset_id!r}, not {dataset_id!r}"
        )
    if found.shard_id != shard_id:
        raise WrongShard(f"file {shard_id}.vxs holds shard {found.shard_id} (files swapped?)")
    if found.raw != expected:
        raise TamperedShard(f"shard {shard_id} has a damaged header")


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Writable(Protocol):
    def write(self, data: memoryview, /) -> int | None: ...


class ChunkBuffers:
    """Room for one record and its plaintext: reused across shards, since a fresh megabyte per
    shard costs page faults comparable to the AES work on it."""

    def __init__(self, chunk_size: int) -> None:
        self.record = memoryview(bytearray(chunk_size + TAG_SIZE))
        self.plaintext = memoryview(bytearray(chunk_size))

    def wipe(self) -> None:
        self.plaintext[:] = bytes(len(self.plaintext))


def decrypt_stream(
    src: Readable,
    dst: Writable,
    dek: bytes | bytearray,
    shard: ShardEntry,
    *,
    header: bytes,
    chunk_size: int,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    buffers: ChunkBuffers | None = None,
) -> None:
    """Verify and decrypt one shard, `src` positioned after its (checked) header.

    Raises on any damage; the caller discards what was written to `dst` by then. Each record is
    read once into a private buffer and both hashed and decrypted from there, so a file changed
    while it is read cannot show the digest other bytes than those decrypted. `src` and `dst`
    are best unbuffered (buffering=0): the buffers here already hold whole chunks.
    """
    shard_id, chunks = shard.id, shard.chunks
    aead = AESGCM(dek)
    digest = shard_hasher(header)
    if buffers is None or len(buffers.plaintext) < min(chunk_size, shard.plaintext_size):
        buffers = ChunkBuffers(min(chunk_size, shard.plaintext_size))
    record, plaintext = buffers.record, buffers.plaintext
    for index in range(chunks):
        if stop is not None and stop.is_set():
            raise Cancelled(f"unsealing shard {shard_id} stopped: another shard failed")
        last = index == chunks - 1
        size = (shard.plaintext_size - index * chunk_size if last else chunk_size) + TAG_SIZE
        if _read_exactly(src, record[:size]) < size:
            raise TruncatedShard(f"shard {shard_id} ends inside chunk {index} of {chunks}")
        digest.update(record[:size])
        try:
            aead.decrypt_into(
                chunk_nonce(index),
                record[:size],
                chunk_aad(header, index, last),
                plaintext[: size - TAG_SIZE],
            )
        except InvalidTag:
            raise TamperedChunk(
                f"chunk {index} of shard {shard_id} failed authentication "
                "(altered, reordered, moved or truncated)"
            ) from None
        _write_all(dst, plaintext[: size - TAG_SIZE])
        if progress is not None:
            progress(size - TAG_SIZE)
    if _read_exactly(src, memoryview(bytearray(1))):
        raise TamperedShard(f"shard {shard_id} has bytes after its last chunk")
    if not hmac.compare_digest(format_digest(digest), shard.digest):
        raise TamperedShard(f"shard {shard_id} does not match its digest in the manifest")


def _read_exactly(src: Readable, view: memoryview) -> int:
    """Fill `view` unless the stream ends first; returns how much was read."""
    got = 0
    while got < len(view):
        count = src.readinto(view[got:])
        if not count:
            break
        got += count
    return got


def _write_all(dst: Writable, view: memoryview) -> None:
    while view:
        count = dst.write(view)
        if count is None:  # only a non-blocking sink says "try again", and none is used
            raise BlockingIOError("the output would block")
        view = view[count:]


def _read_up_to(src: IO[bytes], size: int) -> bytes:
    """Exactly `size` bytes unless the stream ends first (reads may come back short on pipes)."""
    data = src.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = src.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
