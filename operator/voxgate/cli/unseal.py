"""`voxgate unseal`: verify a signed manifest and its shards and decrypt into a directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from voxgate.cli.errors import UsageError
from voxgate.cli.sealed_common import (
    default_jobs,
    kek_store,
    public_key_arg,
    sealed_errors_as_usage,
)
from voxgate.sealed.dek import DekProvider, LocalDekProvider
from voxgate.sealed.progress import ProgressBar
from voxgate.sealed.unseal import UnsealOptions, unseal


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "unseal",
        help="verify and decrypt sealed shards into a directory",
        description="Verify the manifest signature, then every shard (size, header, each "
        "chunk's tag, digest) while decrypting; files appear only once fully verified, and "
        "on any failure everything written is removed.",
    )
    parser.add_argument("--manifest", required=True, help="the signed manifest.json")
    parser.add_argument("--shards", required=True, help="directory holding the shard files")
    parser.add_argument("--out", required=True, help="output directory (memory-backed in pods)")
    parser.add_argument(
        "--dek-source",
        required=True,
        help="where data keys come from: file:KEYRING or secret:NAMESPACE (local KEK)",
    )
    parser.add_argument(
        "--public-key", help="base64 Ed25519 key that must have signed the manifest"
    )
    parser.add_argument("--dataset", help="refuse a manifest for any other dataset id")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes")
    parser.set_defaults(handler=handle)


def dek_source(text: str) -> DekProvider:
    """The DEK provider a --dek-source names (the key broker client will add `broker:URL`)."""
    return LocalDekProvider(kek_store(text))


def handle(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    manifest_path = Path(args.manifest)
    with sealed_errors_as_usage():
        key = public_key_arg(args.public_key)
        provider = dek_source(args.dek_source)
        try:
            manifest_bytes = manifest_path.read_bytes()
        except OSError as error:
            raise UsageError(f"cannot read manifest {manifest_path}: {error.strerror}") from None
        shards = Path(args.shards)
        if not shards.is_dir():
            raise UsageError(f"shard directory {shards} does not exist")
        total = sum(f.stat().st_size for f in shards.iterdir() if f.is_file())
        bar = ProgressBar("unsealing", total)
        try:
            result = unseal(
                manifest_bytes,
                key,
                provider,
                shards,
                Path(args.out),
                options=UnsealOptions(expected_dataset=args.dataset, jobs=args.jobs),
                progress=bar.advance,
            )
        finally:
            bar.close()
    print(
        f"unsealed {len(result.files)} files ({result.plaintext_bytes / 1e6:.1f} MB) of dataset "
        f"{result.manifest.dataset_id} into {args.out}"
    )
    return 0
