"""`voxgate seal`: check and encrypt a corpus of WAV files into shards and a signed manifest."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxgate.cli.errors import UsageError
from voxgate.cli.sealed_common import (
    default_jobs,
    kek_location,
    parse_size,
    sealed_errors_as_usage,
    signing_key_arg,
)
from voxgate.sealed.audio import DEFAULT_MAX_CLIPPING_PPM, AudioChecks
from voxgate.sealed.format import MAX_CHUNK_SIZE
from voxgate.sealed.progress import ProgressBar
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, list_corpus, seal_corpus

MIN_CLI_CHUNK_SIZE = 4096


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "seal",
        help="encrypt a corpus of WAV files into sealed shards and a signed manifest",
        description="Check every audio file against what the dataset declares, encrypt each "
        "into a shard (AES-256-GCM, fixed-size chunks, one random data key per shard, wrapped "
        "by the KEK) and write a manifest signed with Ed25519.",
    )
    parser.add_argument("src", metavar="SRC", help="directory holding the corpus")
    parser.add_argument("--dataset", required=True, help="dataset id (the SpeechDataset name)")
    parser.add_argument("--out", help="output directory for shards and manifest.json")
    parser.add_argument("--kek", help="the KEK: file:KEYRING#NAME or secret:NAMESPACE/NAME")
    parser.add_argument("--signing-key", help="Ed25519 private key file (or $VOXGATE_SIGNING_KEY)")
    parser.add_argument("--chunk-size", default="1MiB", help="plaintext bytes per chunk")
    parser.add_argument("--on-bad-audio", choices=("skip", "fail"), default="fail")
    parser.add_argument("--expect-format", default="wav", choices=("wav", "flac", "opus"))
    parser.add_argument("--expect-sample-rate", type=int, metavar="HZ")
    parser.add_argument("--expect-channels", type=int, metavar="N")
    parser.add_argument("--expect-sample-width", type=int, metavar="BITS", choices=(8, 16, 24, 32))
    parser.add_argument("--min-duration", type=float, metavar="SECONDS")
    parser.add_argument("--max-duration", type=float, metavar="SECONDS")
    parser.add_argument(
        "--max-clipping",
        type=float,
        default=DEFAULT_MAX_CLIPPING_PPM / 1e6,
        metavar="RATIO",
        help="largest fraction of samples at full scale (default %(default)s)",
    )
    parser.add_argument(
        "--store-paths",
        action="store_true",
        help="record each file's relative path in the manifest (may reveal speaker names)",
    )
    parser.add_argument(
        "--index-out",
        metavar="FILE",
        help="write a private shard-id -> relative-path index here (mode 0600)",
    )
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes")
    parser.add_argument(
        "--check-only", action="store_true", help="run the audio checks only; write nothing"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    options = _options(args)
    src = Path(args.src)
    index = Path(args.index_out) if args.index_out else None
    with sealed_errors_as_usage():
        files, _ = list_corpus(src)
        keys = None
        out = Path(args.out) if args.out else Path()
        if not options.check_only:
            if not args.out or not args.kek:
                raise UsageError("--out and --kek are required (unless --check-only)")
            _check_index_location(index, out)
            kek_id, keks = kek_location(args.kek)
            keys = SealKeys(keks, kek_id, signing_key_arg(args.signing_key))
        bar = ProgressBar("sealing", sum(f.size for f in files))
        try:
            result = seal_corpus(
                src, out, options, keys, report=_report(options), progress=bar.advance
            )
        finally:
            bar.close()
    left_out = len(result.rejected)
    if result.manifest is None:
        print(f"checked {result.checked_files} files: {left_out} failed")
        return 1 if left_out else 0
    if index is not None:
        _write_index(index, result.sources)
    manifest = result.manifest
    size = sum(s.plaintext_size for s in manifest.shards)
    print(
        f"sealed {len(manifest.shards)} files ({size / 1e6:.1f} MB, "
        f"{manifest.total_duration_ms / 3.6e6:.2f} h) as dataset {manifest.dataset_id} "
        f"under KEK {manifest.kek}; left out {left_out}"
    )
    print(f"manifest: {out / MANIFEST_NAME} digest {manifest.digest()}")
    return 0


def _options(args: argparse.Namespace) -> SealOptions:
    if args.expect_format != "wav":
        raise UsageError(
            f"--expect-format {args.expect_format}: voxgate checks and seals PCM WAV only; "
            "convert the corpus to WAV"
        )
    chunk_size = parse_size(args.chunk_size)
    if not MIN_CLI_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise UsageError(f"--chunk-size must be within 4KiB..64MiB, got {chunk_size} bytes")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if not 0 <= args.max_clipping <= 1:
        raise UsageError("--max-clipping is a ratio between 0 and 1")
    for flag in ("expect_sample_rate", "expect_channels", "min_duration", "max_duration"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive")
    checks = AudioChecks(
        format="wav",
        sample_rate_hz=args.expect_sample_rate,
        channels=args.expect_channels,
        sample_width_bits=args.expect_sample_width,
        min_duration_ms=_ms(args.min_duration),
        max_duration_ms=_ms(args.max_duration),
        max_clipping_ppm=round(args.max_clipping * 1e6),
    )
    return SealOptions(
        dataset_id=args.dataset,
        chunk_size=chunk_size,
        on_bad_audio=args.on_bad_audio,
        checks=checks,
        store_paths=args.store_paths,
        jobs=args.jobs,
        check_only=args.check_only,
    )


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _report(options: SealOptions) -> Callable[[str], None]:
    verb = "checked" if options.check_only else options.on_bad_audio
    label = {"skip": "skipped", "fail": "rejected", "checked": "bad"}[verb]

    def report(line: str) -> None:
        print(f"voxgate seal: {label}: {line}", file=sys.stderr)

    return report


def _check_index_location(index: Path | None, out: Path) -> None:
    if index is not None and index.resolve().parent == out.resolve():
        raise UsageError("--index-out maps shards to source names: keep it out of --out")


def _write_index(path: Path, sources: dict[str, str]) -> None:
    data = json.dumps(sources, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError as error:
        raise UsageError(f"cannot write index {path}: {error.strerror}") from None
