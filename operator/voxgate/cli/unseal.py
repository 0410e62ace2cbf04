"""`voxgate unseal`: verify a signed manifest and its shards and decrypt into a directory.

Data keys come from a local KEK store (`--dek-source`, stewards and tests) or from the key
broker (`--broker`, training pods: the pod's projected ServiceAccount token is the credential).
"""

from __future__ import annotations

import argparse
import os
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
from voxgate.sealed.errors import SealError
from voxgate.sealed.manifest import read_manifest_unverified
from voxgate.sealed.progress import ProgressBar
from voxgate.sealed.unseal import UnsealOptions, unseal

BROKER_CA_ENV = "VOXGATE_BROKER_CA"


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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dek-source",
        help="data keys from a local KEK store: file:KEYRING or secret:NAMESPACE",
    )
    source.add_argument(
        "--broker",
        metavar="URL",
        help="data keys from the key broker at this https:// URL (needs --token-file)",
    )
    parser.add_argument(
        "--token-file", help="with --broker: the projected ServiceAccount token to present"
    )
    parser.add_argument(
        "--broker-ca",
        help=f"with --broker: PEM CA bundle that signed the broker's certificate "
        f"(default ${BROKER_CA_ENV}, else the system trust store)",
    )
    parser.add_argument(
        "--broker-attempts",
        type=int,
        default=5,
        help="with --broker: tries while the broker is unreachable or unavailable (default 5)",
    )
    parser.add_argument(
        "--public-key", help="base64 Ed25519 key that must have signed the manifest"
    )
    parser.add_argument(
        "--dataset",
        help="refuse a manifest of any other dataset; NAMESPACE/NAME (the SpeechDataset, as "
        "the broker needs it) also accepts a manifest sealed with the bare NAME",
    )
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes")
    parser.set_defaults(handler=handle)


def dek_source(args: argparse.Namespace) -> DekProvider:
    """The DEK provider the arguments name: a local KEK store or the key broker."""
    if args.dek_source is not None:
        for flag in ("token_file", "broker_ca"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} only goes with --broker")
        return LocalDekProvider(kek_store(args.dek_source))
    return broker_source(args)


def broker_source(args: argparse.Namespace) -> DekProvider:
    # Imported here: unsealing with a local keyring should not load the broker client.
    from voxgate.broker.client import BrokerDekProvider, RetryPolicy  # noqa: PLC0415
    from voxgate.broker.views import BadObjectRef, ObjectRef  # noqa: PLC0415

    if args.token_file is None:
        raise UsageError("--broker needs --token-file (the pod's projected token)")
    if args.broker_attempts < 1:
        raise UsageError("--broker-attempts must be at least 1")
    dataset = None
    if args.dataset is not None and "/" in args.dataset:
        try:
            dataset = ObjectRef.parse(args.dataset)
        except BadObjectRef as error:
            raise UsageError(f"--dataset: {error}") from None
    ca = args.broker_ca or os.environ.get(BROKER_CA_ENV)
    return BrokerDekProvider(
        args.broker,
        Path(args.token_file),
        dataset=dataset,
        ca_file=Path(ca) if ca else None,
        retry=RetryPolicy(attempts=args.broker_attempts),
    )


def expected_dataset(wanted: str | None, manifest_bytes: bytes) -> str | None:
    """The dataset id unseal must find: `wanted`, or its bare NAME when `wanted` is NS/NAME and
    the manifest was sealed so. Only a hint: unseal compares it with the verified manifest."""
    if wanted is None or "/" not in wanted:
        return wanted
    try:
        found = read_manifest_unverified(manifest_bytes).dataset_id
    except SealError:
        return wanted  # unseal reports what is wrong, in its documented order
    return found if found == wanted.split("/", 1)[1] else wanted


def handle(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    manifest_path = Path(args.manifest)
    with sealed_errors_as_usage():
        key = public_key_arg(args.public_key)
        provider = dek_source(args)
        try:
            manifest_bytes = manifest_path.read_bytes()
        except OSError as error:
            raise UsageError(f"cannot read manifest {manifest_path}: {error.strerror}") from None
        shards = Path(args.shards)
        if not shards.is_dir():
            raise UsageError(f"shard directory {shards} does not exist")
        total = sum(f.stat().st_size for f in shards.iterdir() if f.is_file())
        bar = ProgressBar("unsealing", total)
        expected = expected_dataset(args.dataset, manifest_bytes)
        try:
            result = unseal(
                manifest_bytes,
                key,
                provider,
                shards,
                Path(args.out),
                options=UnsealOptions(expected_dataset=expected, jobs=args.jobs),
                progress=bar.advance,
            )
        finally:
            bar.close()
    print(
        f"unsealed {len(result.files)} files ({result.plaintext_bytes / 1e6:.1f} MB) of dataset "
        f"{result.manifest.dataset_id} into {args.out}"
    )
    return 0
