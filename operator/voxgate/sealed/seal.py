"""Seal a corpus: check every audio file, encrypt each into one shard, write the signed manifest.

One shard per source file, each with its own random DEK (so the key broker can release keys
per shard, and one leaked DEK exposes one file). Shard ids are random, so neither file names
nor their order leak into the output; the relative path is stored only on request.
All-or-nothing: on any failure every shard written so far is removed and no manifest appears.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.keys.model import KekRef, new_key, utc_now, wipe
from voxgate.keys.provider import KekProvider
from voxgate.sealed.audio import AudioChecks, inspect_audio
from voxgate.sealed.errors import BadAudio, BadManifest, OutputConflict, SealError, SealIOError
from voxgate.sealed.format import (
    DEFAULT_CHUNK_SIZE,
    SHARD_SUFFIX,
    check_chunk_size,
    check_dataset_id,
    shard_header,
)
from voxgate.sealed.keywrap import wrap_dek
from voxgate.sealed.manifest import Manifest, ShardEntry, check_relative_path, sign_manifest
from voxgate.sealed.pool import run_bounded
from voxgate.sealed.stream import SealedStream, encrypt_stream

MANIFEST_NAME = "manifest.json"
Report = Callable[[str], None]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class SealOptions:
    dataset_id: str
    chunk_size: int = DEFAULT_CHUNK_SIZE
    on_bad_audio: Literal["skip", "fail"] = "fail"
    checks: AudioChecks = field(default_factory=AudioChecks)
    store_paths: bool = False  # opt-in: relative paths may hold speaker names
    jobs: int = 1
    check_only: bool = False  # run the audio checks, write nothing


@dataclass(frozen=True)
class SealResult:
    manifest: Manifest | None  # None when check_only
    sources: dict[str, str]  # shard id -> relative source path, for the steward's own records
    rejected: tuple[str, ...]  # one line per file left out
    checked_files: int


@dataclass(frozen=True)
class CorpusFile:
    relative_path: str
    size: int


@dataclass(frozen=True)
class FileTask:
    src: Path
    file: CorpusFile
    out: Path
    shard_id: str
    temp_name: str
    options: SealOptions
    kek: KekRef | None  # None in a check-only run


@dataclass(frozen=True)
class FileOutcome:
    file: CorpusFile
    shard: ShardEntry | None = None
    rejection: str | None = None


def list_corpus(src: Path) -> tuple[list[CorpusFile], list[str]]:
    """Every regular file under `src`, sorted; anything else is reported, never silently dropped."""
    if not src.is_dir():
        raise SealIOError(f"corpus directory {src} does not exist or is not a directory")
    files: list[CorpusFile] = []
    refused: list[str] = []
    for root, dirs, names in os.walk(src, followlinks=False):
        dirs.sort()
        here = Path(root)
        for name in [d for d in dirs if (here / d).is_symlink()]:
            relative = (here / name).relative_to(src).as_posix()
            refused.append(f"{relative}: symbolic link to a directory; not followed")
        for name in sorted(names):
            path = here / name
            relative = path.relative_to(src).as_posix()
            if path.is_symlink():
                refused.append(f"{relative}: symbolic link; not followed")
            elif not path.is_file():
                refused.append(f"{relative}: not a regular file")
            else:
                files.append(CorpusFile(relative, path.stat().st_size))
    return files, refused


@dataclass(frozen=True)
class SealKeys:
    keks: KekProvider
    kek_id: str  # seals under its newest version
    signing_key: Ed25519PrivateKey


def seal_corpus(
    src: Path,
    out: Path,
    options: SealOptions,
    keys: SealKeys | None,
    *,
    report: Report,
    progress: Progress | None = None,
) -> SealResult:
    """Seal `src` into `out` (keys may be None only for a check-only run)."""
    check_dataset_id(options.dataset_id)
    check_chunk_size(options.chunk_size)
    files, refused = _files_to_seal(src, options, report)
    if options.check_only:
        tasks = _tasks(files, src, out, options, None)
        _, _, rejected = _seal_all(tasks, bytearray(), options, report, progress)
        return SealResult(None, {}, tuple(refused + rejected), len(tasks))
    if keys is None:
        raise SealError("sealing needs a KEK and a signing key")
    kek_ref = KekRef(keys.kek_id, keys.keks.latest_version(keys.kek_id))
    created_out = _prepare_output(out)
    tasks = _tasks(files, src, out, options, kek_ref)
    kek = bytearray()
    try:
        kek = keys.keks.get(kek_ref.id, kek_ref.version)
        shards, sources, rejected = _seal_all(tasks, kek, options, report, progress)
        if not shards:
            raise BadAudio("no file passed the audio checks; nothing was sealed")
        manifest = Manifest(
            dataset_id=options.dataset_id,
            created_at=utc_now(),
            chunk_size=options.chunk_size,
            kek=kek_ref,
            name_policy="relative-path" if options.store_paths else "opaque",
            checks=options.checks,
            shards=tuple(sorted(shards, key=lambda s: s.id)),
        )
        write_file_atomically(out / MANIFEST_NAME, sign_manifest(manifest, keys.signing_key))
        return SealResult(manifest, sources, tuple(refused + rejected), len(tasks))
    except BaseException:
        for task in tasks:
            (out / (task.shard_id + SHARD_SUFFIX)).unlink(missing_ok=True)
            (out / task.temp_name).unlink(missing_ok=True)
        if created_out:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    finally:
        wipe(kek)


def _files_to_seal(
    src: Path, options: SealOptions, report: Report
) -> tuple[list[CorpusFile], list[str]]:
    files, refused = list_corpus(src)
    if options.store_paths:
        files, bad_paths = _storable(files)
        refused += bad_paths
    for line in refused:
        report(line)
    if refused and options.on_bad_audio == "fail" and not options.check_only:
        raise BadAudio(f"{len(refused)} file(s) cannot be sealed (see above); nothing was sealed")
    if not files:
        raise BadAudio(f"no files to seal under {src}")
    return files, refused


def _tasks(
    files: list[CorpusFile], src: Path, out: Path, options: SealOptions, kek_ref: KekRef | None
) -> list[FileTask]:
    # Shard ids are drawn here, not in workers, so cleanup knows every name a worker may write.
    prefix = f".vxg-seal-{secrets.token_hex(4)}-"
    tasks = []
    for item in files:
        shard_id = secrets.token_hex(16)
        tasks.append(FileTask(src, item, out, shard_id, prefix + shard_id, options, kek_ref))
    return tasks


def _seal_all(
    tasks: list[FileTask],
    kek: bytearray,
    options: SealOptions,
    report: Report,
    progress: Progress | None,
) -> tuple[list[ShardEntry], dict[str, str], list[str]]:
    shards: list[ShardEntry] = []
    sources: dict[str, str] = {}
    rejected: list[str] = []
    outcomes = run_bounded(_seal_in_worker, tasks, options.jobs, _remember_worker_kek, (kek,))
    with contextlib.closing(outcomes), _worker_kek_forgotten():
        for outcome in outcomes:
            if progress is not None:
                progress(outcome.file.size)
            if outcome.rejection is not None:
                report(outcome.rejection)
                rejected.append(outcome.rejection)
                if options.on_bad_audio == "fail" and not options.check_only:
                    raise BadAudio(
                        "a file failed the audio checks (see above); nothing was sealed "
                        "(--check-only lists every bad file, --on-bad-audio skip leaves them out)"
                    )
            elif outcome.shard is not None:
                shards.append(outcome.shard)
                sources[outcome.shard.id] = outcome.file.relative_path
    return shards, sources, rejected


def _storable(files: list[CorpusFile]) -> tuple[list[CorpusFile], list[str]]:
    kept: list[CorpusFile] = []
    refused: list[str] = []
    seen: set[str] = set()
    for item in files:
        try:
            check_relative_path(item.relative_path)
        except BadManifest:
            refused.append(f"{item.relative_path!r}: path cannot be stored in a manifest")
            continue
        if item.relative_path.casefold() in seen:
            refused.append(f"{item.relative_path}: differs from another path only by case")
            continue
        seen.add(item.relative_path.casefold())
        kept.append(item)
    return kept, refused


def _prepare_output(out: Path) -> bool:
    """Make sure `out` exists and holds no dataset yet; True if this call created it."""
    if (out / MANIFEST_NAME).exists():
        raise OutputConflict(f"{out} already holds a sealed dataset ({MANIFEST_NAME})")
    existed = out.is_dir()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SealIOError(f"cannot create output directory {out}: {error.strerror}") from None
    return not existed


def write_file_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise SealIOError(f"cannot write {path}: {error.strerror}") from None


# The KEK reaches pool workers once, through the initializer, rather than with every task.
_WORKER_KEK: bytearray | None = None


def _remember_worker_kek(kek: bytearray) -> None:
    global _WORKER_KEK  # noqa: PLW0603 - per-process state by design
    _WORKER_KEK = bytearray(kek)


@contextlib.contextmanager
def _worker_kek_forgotten() -> Iterator[None]:
    """On one core the "worker" is this process: drop its copy of the KEK when done."""
    global _WORKER_KEK  # noqa: PLW0603
    try:
        yield
    finally:
        wipe(_WORKER_KEK)
        _WORKER_KEK = None


def _seal_in_worker(task: FileTask) -> FileOutcome:
    if _WORKER_KEK is None:
        raise SealError("internal error: worker has no KEK")
    return seal_file(task, _WORKER_KEK)


def seal_file(task: FileTask, kek: bytearray) -> FileOutcome:
    """Check one file and, unless it fails or this is a dry run, seal it into one shard."""
    name = task.file.relative_path
    try:
        fd = os.open(task.src / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        return FileOutcome(task.file, rejection=f"{name}: cannot read: {error.strerror}")
    with os.fdopen(fd, "rb") as source:
        try:
            info = inspect_audio(source, name)
        except BadAudio as error:
            return FileOutcome(task.file, rejection=str(error))
        problems = task.options.checks.problems(info)
        if problems:
            return FileOutcome(task.file, rejection=f"{name}: {'; '.join(problems)}")
        if task.options.check_only or task.kek is None:
            return FileOutcome(task.file)
        source.seek(0)
        stats, wrapped = _encrypt_to_shard(source, task, task.kek, kek)
    shard = ShardEntry(
        id=task.shard_id,
        plaintext_size=stats.plaintext_size,
        chunks=stats.chunks,
        ciphertext_size=stats.ciphertext_size,
        digest=stats.digest,
        wrapped_dek=wrapped,
        audio=info,
        source_path=name if task.options.store_paths else None,
    )
    return FileOutcome(task.file, shard=shard)


def _encrypt_to_shard(
    source: IO[bytes], task: FileTask, kek_ref: KekRef, kek: bytearray
) -> tuple[SealedStream, bytes]:
    """Encrypt under a fresh DEK into a temporary file, wrap the DEK, then rename into place."""
    dataset_id = task.options.dataset_id
    temporary = task.out / task.temp_name
    dek = new_key()
    try:
        with temporary.open("xb") as shard:
            header = shard_header(dataset_id, task.shard_id)
            stats = encrypt_stream(source, shard, dek, header, task.options.chunk_size)
            shard.flush()
            os.fsync(shard.fileno())
        wrapped = wrap_dek(kek, kek_ref, dataset_id, task.shard_id, dek)
        temporary.rename(task.out / (task.shard_id + SHARD_SUFFIX))
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise SealIOError(
            f"cannot write shard for {task.file.relative_path}: {error.strerror}"
        ) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        wipe(dek)
    return stats, wrapped
