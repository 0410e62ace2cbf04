"""Rotation without re-encryption: rotate, rewrap, unseal still works, retire the old version."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.keys.model import KekRef
from voxgate.sealed.dek import LocalDekProvider
from voxgate.sealed.errors import BadSignature, UnknownKekVersion
from voxgate.sealed.manifest import read_manifest_unverified
from voxgate.sealed.rewrap import rewrap_file
from voxgate.sealed.unseal import unseal

if TYPE_CHECKING:
    from tests.unit.keys.conftest import Dataset


def shard_digests(dataset: Dataset) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dataset.sealed.glob("*.vxs")
    }


def unseal_into(dataset: Dataset, out: Path, key: Ed25519PrivateKey | None = None) -> list[bytes]:
    result = unseal(
        dataset.manifest.read_bytes(),
        (key or dataset.signing_key).public_key(),
        LocalDekProvider(dataset.keyring),
        dataset.sealed,
        out,
    )
    return sorted(path.read_bytes() for path in result.files)


def originals(dataset: Dataset) -> list[bytes]:
    return sorted(path.read_bytes() for path in dataset.corpus.iterdir())


def test_rotate_rewrap_unseal_then_retire_the_old_version(dataset: Dataset) -> None:
    before = shard_digests(dataset)
    old_manifest = dataset.manifest.read_bytes()
    assert dataset.keyring.rotate("speech") == 2
    # Rotation alone changes nothing for existing data: v1 still unwraps it.
    assert unseal_into(dataset, dataset.root / "plain-1") == originals(dataset)

    assert rewrap_file(
        dataset.manifest, dataset.signing_key.public_key(), dataset.keyring, dataset.signing_key
    ) == (KekRef("speech", 1), KekRef("speech", 2))

    assert shard_digests(dataset) == before  # no shard was re-encrypted
    rewrapped = read_manifest_unverified(dataset.manifest.read_bytes())
    old = read_manifest_unverified(old_manifest)
    assert rewrapped.kek == KekRef("speech", 2)
    assert [s.digest for s in rewrapped.shards] == [s.digest for s in old.shards]
    assert all(
        a.wrapped_dek != b.wrapped_dek for a, b in zip(rewrapped.shards, old.shards, strict=True)
    )
    dataset.keyring.retire("speech", 1)
    assert unseal_into(dataset, dataset.root / "plain-2") == originals(dataset)

    # A stale copy of the old manifest no longer unseals once v1 is gone.
    dataset.manifest.write_bytes(old_manifest)
    with pytest.raises(UnknownKekVersion, match="version 1 was retired"):
        unseal_into(dataset, dataset.root / "plain-3")


def test_rewrap_moves_a_dataset_to_another_kek(dataset: Dataset) -> None:
    dataset.keyring.create("speech-2026")
    rewrap_file(
        dataset.manifest,
        dataset.signing_key.public_key(),
        dataset.keyring,
        dataset.signing_key,
        "speech-2026",
    )
    assert read_manifest_unverified(dataset.manifest.read_bytes()).kek == KekRef("speech-2026", 1)
    assert unseal_into(dataset, dataset.root / "plain") == originals(dataset)


def test_rewrap_refuses_a_manifest_it_cannot_verify(dataset: Dataset) -> None:
    dataset.keyring.rotate("speech")
    before = dataset.manifest.read_bytes()
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(BadSignature):
        rewrap_file(dataset.manifest, stranger.public_key(), dataset.keyring, stranger)
    assert dataset.manifest.read_bytes() == before


def test_rewrap_with_a_new_signing_key_replaces_a_leaked_one(dataset: Dataset) -> None:
    new_key = Ed25519PrivateKey.generate()
    rewrap_file(dataset.manifest, dataset.signing_key.public_key(), dataset.keyring, new_key)
    assert unseal_into(dataset, dataset.root / "plain", key=new_key) == originals(dataset)
    with pytest.raises(BadSignature, match="not the expected"):
        unseal_into(dataset, dataset.root / "plain-old")
