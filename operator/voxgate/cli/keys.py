"""`voxgate keys`: the KEK lifecycle (create, rotate, rewrap, retire, list) and signing keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from voxgate.cli.errors import UsageError
from voxgate.cli.sealed_common import (
    kek_location,
    kek_store,
    public_key_arg,
    sealed_errors_as_usage,
    signing_key_arg,
)
from voxgate.keys.model import KekRef
from voxgate.keys.ref import parse_kek_ref
from voxgate.sealed.errors import KekInUse, SealIOError
from voxgate.sealed.manifest import public_key_b64, read_manifest_unverified
from voxgate.sealed.rewrap import rewrap_file
from voxgate.sealed.signing import generate_signing_key

KEK_HELP = "the KEK: file:KEYRING#NAME or secret:NAMESPACE/NAME"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="manage KEKs and manifest signing keys")
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = commands.add_parser("create", help="create a KEK (version 1)")
    create.add_argument("--kek", required=True, help=KEK_HELP)
    create.set_defaults(handler=handle_create)

    rotate = commands.add_parser("rotate", help="add a new KEK version; new seals use it")
    rotate.add_argument("--kek", required=True, help=KEK_HELP)
    rotate.set_defaults(handler=handle_rotate)

    rewrap = commands.add_parser(
        "rewrap",
        help="rewrap a manifest's data keys under the newest KEK version and re-sign it",
        description="Shard ciphertext is not touched. The manifest must verify against "
        "--public-key (default: the public half of --signing-key).",
    )
    rewrap.add_argument("--manifest", required=True, help="manifest.json, replaced in place")
    rewrap.add_argument(
        "--kek", required=True, help=KEK_HELP + " (the target; may differ from the current)"
    )
    rewrap.add_argument("--signing-key", help="Ed25519 private key that re-signs the manifest")
    rewrap.add_argument("--public-key", help="base64 key the manifest is signed with now")
    rewrap.set_defaults(handler=handle_rewrap)

    retire = commands.add_parser(
        "retire", help="delete a KEK version no manifest references any more"
    )
    retire.add_argument("--kek", required=True, help=KEK_HELP)
    retire.add_argument("--version", type=int, required=True)
    retire.add_argument(
        "--manifest",
        action="append",
        default=[],
        help="a manifest that must not reference the version (repeatable)",
    )
    retire.add_argument(
        "--unreferenced",
        action="store_true",
        help="retire without checking manifests (you checked every manifest yourself)",
    )
    retire.set_defaults(handler=handle_retire)

    listing = commands.add_parser("list", help="list KEKs, or the live versions of one KEK")
    listing.add_argument("--kek", required=True, help=KEK_HELP + ", or just the store")
    listing.set_defaults(handler=handle_list)

    signing = commands.add_parser(
        "signing-key", help="make an Ed25519 key pair for signing manifests"
    )
    signing.add_argument("--out", required=True, help="private key file to create (mode 0600)")
    signing.set_defaults(handler=handle_signing_key)


def handle_create(args: argparse.Namespace) -> int:
    with sealed_errors_as_usage():
        kek_id, store = kek_location(args.kek)
        version = store.create(kek_id)
    print(f"created KEK {kek_id} version {version}")
    return 0


def handle_rotate(args: argparse.Namespace) -> int:
    with sealed_errors_as_usage():
        kek_id, store = kek_location(args.kek)
        version = store.rotate(kek_id)
    print(f"KEK {kek_id}: added version {version}; new seals use it. Rewrap manifests next.")
    return 0


def handle_rewrap(args: argparse.Namespace) -> int:
    with sealed_errors_as_usage():
        kek_id, store = kek_location(args.kek)
        signing_key = signing_key_arg(args.signing_key)
        trusted = public_key_arg(args.public_key) if args.public_key else signing_key.public_key()
        before, after = rewrap_file(Path(args.manifest), trusted, store, signing_key, kek_id)
    print(
        f"rewrapped {args.manifest}: KEK {before} -> {after}, "
        f"signed by {public_key_b64(signing_key.public_key())}"
    )
    return 0


def handle_retire(args: argparse.Namespace) -> int:
    if not args.manifest and not args.unreferenced:
        raise UsageError(
            "name every manifest that might use the version with --manifest "
            "(or pass --unreferenced if you checked them yourself)"
        )
    with sealed_errors_as_usage():
        kek_id, store = kek_location(args.kek)
        for path in args.manifest:
            kek = _manifest_kek(Path(path))
            if kek.id == kek_id and kek.version == args.version:
                raise KekInUse(
                    f"{path} still uses KEK {kek}; rewrap it before retiring version {args.version}"
                )
        store.retire(kek_id, args.version)
    print(f"KEK {kek_id}: retired version {args.version}; its key material is deleted")
    return 0


def handle_list(args: argparse.Namespace) -> int:
    with sealed_errors_as_usage():
        kek_id = parse_kek_ref(args.kek, need_name=False).kek_id
        store = kek_store(args.kek)
        if kek_id is None:
            for name in store.kek_ids():
                print(name)
            return 0
        versions = store.versions(kek_id)
    newest = max(v.version for v in versions)
    for item in versions:
        marker = "  (newest)" if item.version == newest else ""
        print(f"{kek_id}\tv{item.version}\t{item.created_at}{marker}")
    return 0


def handle_signing_key(args: argparse.Namespace) -> int:
    with sealed_errors_as_usage():
        public = generate_signing_key(Path(args.out))
    print(f"wrote {args.out} (private, mode 0600) and {args.out}.pub", file=sys.stderr)
    print(public)
    return 0


def _manifest_kek(path: Path) -> KekRef:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SealIOError(f"cannot read manifest {path}: {error.strerror}") from None
    return read_manifest_unverified(data).kek
