"""Unseal: verify a signed manifest and its shards, decrypt into an output directory.

Order of checks: signature, dataset, then every shard's presence, header and size (all before
any key is requested), then per shard each chunk's AEAD tag and the file digest. Plaintext is
written under a temporary name and renamed only once its whole shard verified. Any failure
removes everything this call wrote, so the output directory never holds unverified plaintext.

On several cores shards are unsealed by threads, not processes: reading, BLAKE3 hashing and
writing release the GIL and take most of the time (AES-GCM, which holds it, is about a tenth),
DEKs stay in this process instead of crossing a pipe, and a failure stops the other shards
between two chunks.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from voxgate.keys.model import wipe
from voxgate.sealed.dek import DekProvider, DekRequest
from voxgate.sealed.errors import (
    KeyUnwrapFailed,
    MissingShard,
    OutputConflict,
    SealIOError,
    TamperedShard,
    TruncatedShard,
    WrongDataset,
)
from voxgate.sealed.format import KEY_SIZE, shard_header
from voxgate.sealed.manifest import Manifest, ShardEntry, verify_manifest
from voxgate.sealed.pool import run_bounded
from voxgate.sealed.stream import (
    ChunkBuffers,
    check_shard_header,
    decrypt_stream,
    read_shard_header,
)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class UnsealOptions:
    expected_dataset: str | None = None  # the SpeechDataset the caller was authorised for
    jobs: int = 1
    file_mode: int = 0o600


@dataclass(frozen=True)
class UnsealResult:
    manifest: Manifest
    files: tuple[Path, ...]
    plaintext_bytes: int


@dataclass(frozen=True)
class ShardJob:
    shard: ShardEntry
    dataset_id: str
    chunk_size: int
    source: Path
    target: Path
    temporary: Path
    file_mode: int
    dek: bytearray
    stop: threading.Event
    buffers: queue.SimpleQueue[ChunkBuffers]  # one set per worker, taken for a shard at a time


def unseal(
    manifest_bytes: bytes,
    signature_key: Ed25519PublicKey,
    dek_provider: DekProvider,
    shard_dir: Path,
    out_dir: Path,
    *,
    options: UnsealOptions | None = None,
    progress: Progress | None = None,
) -> UnsealResult:
    options = options or UnsealOptions()
    manifest = verify_manifest(manifest_bytes, signature_key)
    if options.expected_dataset is not None and manifest.dataset_id != options.expected_dataset:
        raise WrongDataset(
            f"manifest is for dataset {manifest.dataset_id!r}, "
            f"expected {options.expected_dataset!r}"
        )
    for shard in manifest.shards:
        preflight_shard(shard_dir, manifest, shard)
    targets = _targets(manifest, out_dir)
    deks = dek_provider.fetch(DekRequest.for_manifest(manifest))
    created_dirs: list[Path] = []
    prefix = f".vxg-unseal-{secrets.token_hex(4)}-"
    jobs = []
    stop = threading.Event()
    largest_chunk = min(manifest.chunk_size, max(s.plaintext_size for s in manifest.shards))
    spare: queue.SimpleQueue[ChunkBuffers] = queue.SimpleQueue()
    buffers = [ChunkBuffers(largest_chunk) for _ in range(max(1, options.jobs))]
    for item in buffers:
        spare.put(item)
    try:
        for shard, target in zip(manifest.shards, targets, strict=True):
            dek = deks.get(shard.id)
            if dek is None or len(dek) != KEY_SIZE:
                raise KeyUnwrapFailed(f"the key provider returned no usable DEK for {shard.id}")
            created_dirs += _make_parents(target.parent, out_dir)
            job = ShardJob(
                shard,
                manifest.dataset_id,
                manifest.chunk_size,
                shard_dir / shard.file_name,
                target,
                target.parent / (prefix + shard.id),
                options.file_mode,
                dek,
                stop,
                spare,
            )
            jobs.append(job)
        written = _run(jobs, options.jobs, stop, progress)
        return UnsealResult(manifest, tuple(targets), written)
    except BaseException:
        for job in jobs:
            job.temporary.unlink(missing_ok=True)
            job.target.unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    finally:
        for dek in deks.values():
            wipe(dek)
        for item in buffers:
            item.wipe()


def _run(
    jobs: list[ShardJob], workers: int, stop: threading.Event, progress: Progress | None
) -> int:
    written = 0
    outcomes = run_bounded(unseal_shard, jobs, workers, threads=True)
    with contextlib.closing(outcomes):
        try:
            for size in outcomes:
                written += size
                if progress is not None:
                    progress(size)
        except BaseException:
            stop.set()  # before closing the pool waits for the shards still running
            raise
    return written


def preflight_shard(shard_dir: Path, manifest: Manifest, shard: ShardEntry) -> None:
    """Cheap checks needing no key: the file exists, is this shard of this dataset, has its size."""
    path = shard_dir / shard.file_name
    try:
        with path.open("rb") as source:
            found = read_shard_header(source, shard.file_name)
            size = os.fstat(source.fileno()).st_size
    except FileNotFoundError:
        raise MissingShard(f"shard file {path} is missing") from None
    except OSError as error:
        raise SealIOError(f"cannot read shard {path}: {error.strerror}") from None
    header = shard_header(manifest.dataset_id, shard.id)
    check_shard_header(found, header, manifest.dataset_id, shard.id)
    if size < shard.ciphertext_size:
        raise TruncatedShard(
            f"shard {shard.id} is {size} bytes, the manifest says {shard.ciphertext_size}: "
            "it was truncated"
        )
    if size > shard.ciphertext_size:
        raise TamperedShard(
            f"shard {shard.id} is {size} bytes, the manifest says {shard.ciphertext_size}: "
            "bytes were added"
        )


def unseal_shard(job: ShardJob) -> int:
    """Verify and decrypt one shard into job.target; in a pool worker or in process."""
    header = shard_header(job.dataset_id, job.shard.id)
    try:
        # Unbuffered both ways: decrypt_stream moves whole chunks through its own buffers.
        with job.source.open("rb", buffering=0) as source:
            # Checked again here: the file may have changed since the preflight.
            found = read_shard_header(source, job.shard.file_name)
            check_shard_header(found, header, job.dataset_id, job.shard.id)
            fd = os.open(job.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, job.file_mode)
            buffers = job.buffers.get_nowait()  # never empty: at most one shard per worker
            try:
                with os.fdopen(fd, "wb", buffering=0) as sink:
                    decrypt_stream(
                        source,
                        sink,
                        job.dek,
                        job.shard,
                        header=header,
                        chunk_size=job.chunk_size,
                        stop=job.stop,
                        buffers=buffers,
                    )
            finally:
                job.buffers.put(buffers)
        if job.target.exists():
            raise OutputConflict(f"{job.target} appeared while unsealing; not overwriting it")
        job.temporary.rename(job.target)
    except OSError as error:
        job.temporary.unlink(missing_ok=True)
        raise SealIOError(f"cannot unseal shard {job.shard.id}: {error.strerror}") from None
    except BaseException:
        job.temporary.unlink(missing_ok=True)
        raise
    finally:
        wipe(job.dek)
    return job.shard.plaintext_size


def _targets(manifest: Manifest, out_dir: Path) -> list[Path]:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SealIOError(f"cannot create output directory {out_dir}: {error.strerror}") from None
    root = out_dir.resolve()
    targets = []
    for shard in manifest.shards:
        target = root.joinpath(*shard.output_path().parts)
        # Paths were validated when parsing; resolving again guards against symlinked folders.
        if not target.parent.resolve().is_relative_to(root) and target.parent.exists():
            raise OutputConflict(f"{target} would be written outside {out_dir}")
        if target.exists() or target.is_symlink():
            raise OutputConflict(f"{target} already exists; unseal into an empty directory")
        targets.append(target)
    return targets


def _make_parents(directory: Path, out_dir: Path) -> list[Path]:
    """Create missing folders below out_dir; returns them, outermost first, for cleanup."""
    missing = []
    while not directory.exists() and directory != out_dir.resolve():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir()
    return list(reversed(missing))
