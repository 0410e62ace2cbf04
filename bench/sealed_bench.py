"""Sealed-data throughput: seal and unseal against `openssl speed` and a plain copy.

    .venv/bin/python bench/sealed_bench.py [--size-mib 512] [--files 64] [--repeat 3]

Writes bench/results/sealed-throughput.json: a list of {name, value, unit, baseline, ratio, goal,
command, date}. `goal` is the target for `ratio` (null where a row is a baseline or has none).

A corpus of synthetic 48 kHz stereo WAV files (voxgate.sealed.synthetic) is written to a
memory-backed directory (/dev/shm when present), so storage speed does not hide the CPU cost;
production unseals into a memory-backed emptyDir too. Every figure is MB/s (10^6 bytes per
second) of plaintext, the best of --repeat runs, measured in this same process run:

- plain copy: shutil.copyfile of every file (sendfile): what any tool must at least do; on one
  core (the goals' baseline) and, for context, by one thread per core;
- openssl speed -evp aes-256-gcm -bytes <chunk size>: one core, and -multi <cores>;
- openssl speed -evp sha256 -bytes <chunk size> and BLAKE3 (the `blake3` package over the same
  chunk size in memory), one core: the shard digest the manifest signs was SHA-256 (format v1)
  and is BLAKE3 (v2);
- seal (audio checks, AES-256-GCM, BLAKE3, fsync; a process pool over files) and unseal
  (header and size checks, AEAD, BLAKE3, write, rename; a thread pool over files), each on one
  core (pinned with sched_setaffinity) and on all cores. Unsealed output is compared with the
  corpus after each mode.

Goals (issue #5), read as: unseal on all cores >= 0.5x openssl's one-core AES-256-GCM figure
and >= 0.7x the one-core plain copy. Unseal on one core is reported beside them, without a goal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.keys.file_provider import FileProvider
from voxgate.sealed.audio import AudioChecks
from voxgate.sealed.dek import LocalDekProvider
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, SealResult, seal_corpus
from voxgate.sealed.synthetic import write_wav
from voxgate.sealed.unseal import UnsealOptions, unseal

RESULTS = Path(__file__).resolve().parent / "results"
BYTES_PER_SECOND_48K_STEREO = 48_000 * 2 * 2


def _row(
    name: str, value: float, *, baseline: float, goal: str | None, command: str
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": "MB/s",
        "baseline": round(baseline, 1),
        "ratio": round(value / baseline, 4),
        "goal": goal,
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def openssl_speed(algorithm: str, chunk_size: int, seconds: int, multi: int = 1) -> float:
    """MB/s from `openssl speed`, whose figures are in 1000s of bytes per second."""
    argv = ["openssl", "speed", "-seconds", str(seconds), "-evp", algorithm]
    argv += ["-bytes", str(chunk_size)]
    if multi > 1:
        argv[2:2] = ["-multi", str(multi)]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    label = re.escape(algorithm.upper() if algorithm.startswith("aes") else algorithm)
    match = re.search(rf"^{label}\s+([\d.]+)k\s*$", output, re.MULTILINE | re.IGNORECASE)
    if match is None:
        raise SystemExit(f"cannot parse `{shlex.join(argv)}` output:\n{output}")
    return float(match.group(1)) / 1000


def best_rate(
    total_bytes: int, repeat: int, run: Callable[[], None], reset: Callable[[], None]
) -> float:
    best = float("inf")
    for _ in range(repeat):
        reset()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return total_bytes / best / 1e6


def blake3_speed(chunk_size: int, seconds: float) -> float:
    """MB/s of BLAKE3 over one in-memory buffer of `chunk_size`, as openssl speed measures."""
    data = os.urandom(chunk_size)
    hasher = blake3()
    rounds = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.update(data)
        rounds += 1
    return rounds * chunk_size / (time.perf_counter() - started) / 1e6


def copy_with_threads(corpus: Path, copy: Path, workers: int) -> None:
    copy.mkdir()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(
            lambda source: shutil.copyfile(source, copy / source.name), corpus.iterdir()
        ):
            pass


def pinned(cpus: set[int], action: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cpus)
        try:
            action()
        finally:
            os.sched_setaffinity(0, previous)

    return run


def make_corpus(root: Path, size_mib: int, files: int) -> tuple[Path, int]:
    corpus = root / "corpus"
    seconds = size_mib * (1 << 20) / files / BYTES_PER_SECOND_48K_STEREO
    for index in range(files):
        write_wav(corpus / f"speaker-{index:03d}.wav", rate=48_000, channels=2, seconds=seconds)
    return corpus, sum(p.stat().st_size for p in corpus.iterdir())


def digests(directory: Path) -> list[str]:
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=1 << 20)
    parser.add_argument("--openssl-seconds", type=int, default=3)
    args = parser.parse_args()
    command = shlex.join([".venv/bin/python", "bench/sealed_bench.py", *sys.argv[1:]])
    cores = sorted(os.sched_getaffinity(0))
    one_core = {cores[0]}
    shm = Path("/dev/shm")  # noqa: S108 - memory-backed on purpose; mkdtemp makes a private dir
    base = shm if shm.is_dir() else None
    root = Path(tempfile.mkdtemp(prefix="voxgate-sealed-bench-", dir=base))
    try:
        rows = run_all(args, command, root, cores, one_core)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "sealed-throughput.json"
    path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    for row in rows:
        print(
            f"{row['name']:<86} {row['value']:>7.1f} MB/s  x{row['ratio']:<7} {row['goal'] or ''}"
        )
    print(f"wrote {path}")


def run_all(
    args: argparse.Namespace, command: str, root: Path, cores: list[int], one_core: set[int]
) -> list[dict[str, Any]]:
    corpus, total = make_corpus(root, args.size_mib, args.files)
    keyring = FileProvider(root / "keyring.json")
    keyring.create("bench")
    signing = Ed25519PrivateKey.generate()
    sealed, plain, copy = root / "sealed", root / "plain", root / "copy"
    expected = digests(corpus)
    chunk = args.chunk_size
    label = f"{total / 1e6:.0f} MB in {args.files} files, chunk {chunk // 1024} KiB"

    def clear(path: Path) -> Callable[[], None]:
        return lambda: shutil.rmtree(path, ignore_errors=True)

    def copy_all() -> None:
        copy.mkdir()
        for source in corpus.iterdir():
            shutil.copyfile(source, copy / source.name)

    def copy_on_all_cores() -> None:
        copy_with_threads(corpus, copy, len(cores))

    def seal_with(jobs: int) -> Callable[[], None]:
        def run() -> None:
            options = SealOptions("bench", chunk, "fail", AudioChecks(), jobs=jobs)
            keys = SealKeys(keyring, "bench", signing)
            result: SealResult = seal_corpus(corpus, sealed, options, keys, report=print)
            assert result.manifest is not None and not result.rejected

        return run

    def unseal_with(jobs: int) -> Callable[[], None]:
        def run() -> None:
            unseal(
                (sealed / MANIFEST_NAME).read_bytes(),
                signing.public_key(),
                LocalDekProvider(keyring),
                sealed,
                plain,
                options=UnsealOptions(jobs=jobs),
            )

        return run

    copy_rate = best_rate(total, args.repeat, pinned(one_core, copy_all), clear(copy))
    copy_n = best_rate(total, args.repeat, copy_on_all_cores, clear(copy))
    shutil.rmtree(copy)
    gcm_1 = openssl_speed("aes-256-gcm", chunk, args.openssl_seconds)
    gcm_n = openssl_speed("aes-256-gcm", chunk, args.openssl_seconds, multi=len(cores))
    sha_1 = openssl_speed("sha256", chunk, args.openssl_seconds)
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, one_core)
    try:
        b3_1 = blake3_speed(chunk, args.openssl_seconds)
    finally:
        os.sched_setaffinity(0, previous)
    seal_1 = best_rate(total, args.repeat, pinned(one_core, seal_with(1)), clear(sealed))
    seal_n = best_rate(total, args.repeat, seal_with(len(cores)), clear(sealed))
    unseal_1 = best_rate(total, args.repeat, pinned(one_core, unseal_with(1)), clear(plain))
    if digests(plain) != expected:
        raise SystemExit("unseal on one core did not reproduce the corpus")
    unseal_n = best_rate(total, args.repeat, unseal_with(len(cores)), clear(plain))
    if digests(plain) != expected:
        raise SystemExit("unseal on all cores did not reproduce the corpus")

    n = len(cores)
    gcm_cmd = f"openssl speed -evp aes-256-gcm -bytes {chunk}"
    goal = "(the goal's figure: all cores)"
    no_goal = "(reported; the goal is on all cores)"
    return [
        _row(f"plain copy (shutil.copyfile), 1 core, {label}", copy_rate,
             baseline=copy_rate, goal=None, command=command),
        _row(f"plain copy (shutil.copyfile), {n} threads on {n} cores (context)", copy_n,
             baseline=copy_rate, goal=None, command=command),
        _row("openssl AES-256-GCM, 1 core", gcm_1, baseline=gcm_1, goal=None, command=gcm_cmd),
        _row(f"openssl AES-256-GCM, {n} cores", gcm_n, baseline=gcm_1, goal=None,
             command=f"openssl speed -multi {n} -evp aes-256-gcm -bytes {chunk}"),
        _row("openssl sha256, 1 core (vs AES-256-GCM 1 core; format v1 shard digest)", sha_1,
             baseline=gcm_1, goal=None, command=f"openssl speed -evp sha256 -bytes {chunk}"),
        _row("BLAKE3 (blake3 package), 1 core (vs AES-256-GCM 1 core; format v2 shard digest)",
             b3_1, baseline=gcm_1, goal=None, command=command),
        _row("seal, 1 core (vs openssl AES-256-GCM 1 core)", seal_1, baseline=gcm_1, goal=None,
             command=command),
        _row(f"seal, all {n} cores (vs openssl AES-256-GCM 1 core)", seal_n, baseline=gcm_1,
             goal=None, command=command),
        _row(f"unseal, 1 core {no_goal} vs openssl AES-256-GCM 1 core", unseal_1,
             baseline=gcm_1, goal=None, command=command),
        _row(f"unseal, 1 core {no_goal} vs plain copy 1 core", unseal_1, baseline=copy_rate,
             goal=None, command=command),
        _row(f"unseal, all {n} cores {goal} vs openssl AES-256-GCM 1 core", unseal_n,
             baseline=gcm_1, goal=">= 0.5", command=command),
        _row(f"unseal, all {n} cores {goal} vs plain copy 1 core", unseal_n, baseline=copy_rate,
             goal=">= 0.7", command=command),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
