"""Rewrap: move a manifest's wrapped DEKs to the newest KEK version and re-sign it.

Shard ciphertext is untouched: only the 60-byte wrapped keys and the `kek` field change.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from voxgate.keys.model import KekRef, wipe
from voxgate.keys.provider import KekProvider
from voxgate.sealed.errors import SealIOError
from voxgate.sealed.keywrap import unwrap_dek, wrap_dek
from voxgate.sealed.manifest import Manifest, sign_manifest, verify_manifest
from voxgate.sealed.seal import write_file_atomically


def rewrap_manifest(manifest: Manifest, keks: KekProvider, target_kek_id: str) -> Manifest:
    """The same manifest with every DEK wrapped under the newest version of `target_kek_id`."""
    source = manifest.kek
    target = KekRef(target_kek_id, keks.latest_version(target_kek_id))
    old_kek = keks.get(source.id, source.version)
    new_kek = keks.get(target.id, target.version)
    shards = []
    try:
        for shard in manifest.shards:
            dek = unwrap_dek(old_kek, source, manifest.dataset_id, shard.id, shard.wrapped_dek)
            try:
                wrapped = wrap_dek(new_kek, target, manifest.dataset_id, shard.id, dek)
            finally:
                wipe(dek)
            shards.append(replace(shard, wrapped_dek=wrapped))
    finally:
        wipe(old_kek)
        wipe(new_kek)
    return replace(manifest, kek=target, shards=tuple(shards))


def rewrap_file(
    path: Path,
    trusted_key: Ed25519PublicKey,
    keks: KekProvider,
    signing_key: Ed25519PrivateKey,
    target_kek_id: str | None = None,
) -> tuple[KekRef, KekRef]:
    """Verify the manifest at `path` against `trusted_key`, rewrap, re-sign, replace atomically.

    Returns the KEK versions before and after.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SealIOError(f"cannot read manifest {path}: {error.strerror}") from None
    manifest = verify_manifest(data, trusted_key)
    rewrapped = rewrap_manifest(manifest, keks, target_kek_id or manifest.kek.id)
    write_file_atomically(path, sign_manifest(rewrapped, signing_key))
    return manifest.kek, rewrapped.kek
