"""Every way sealed data can be damaged or mixed up fails unseal with a clear one-line error,
and leaves no plaintext behind, not even files that verified before the failure."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxgate.keys.model import KekRef
from voxgate.sealed.dek import DekRequest, LocalDekProvider
from voxgate.sealed.errors import (
    BadSignature,
    KeyUnwrapFailed,
    MissingShard,
    TamperedChunk,
    TamperedShard,
    TruncatedShard,
    UnknownKekVersion,
    WrongDataset,
    WrongShard,
)
from voxgate.sealed.format import TAG_SIZE, chunk_aad, chunk_nonce, shard_header
from voxgate.sealed.manifest import Manifest, ShardEntry, sign_manifest
from voxgate.sealed.seal import MANIFEST_NAME
from voxgate.sealed.synthetic import write_wav
from voxgate.sealed.unseal import UnsealOptions

if TYPE_CHECKING:
    from tests.unit.sealed.conftest import Kit


@pytest.fixture
def sealed(kit: Kit) -> Manifest:
    """Four files of 3+ chunks each, so whichever shard is last has a middle chunk."""
    for index, (rate, channels) in enumerate([(8000, 1), (16000, 2), (44100, 1), (48000, 2)]):
        path = kit.root / "corpus" / f"speaker-{index}.wav"
        write_wav(path, rate=rate, channels=channels, seconds=1.0)
    result = kit.seal(kit.root / "corpus")
    assert result.manifest is not None
    return result.manifest


def victim(manifest: Manifest) -> ShardEntry:
    """The last shard unsealed: every other file has verified and been written before it fails."""
    shard = manifest.shards[-1]
    assert shard.chunks >= 3
    return shard


def shard_path(kit: Kit, shard: ShardEntry) -> Path:
    return kit.root / "sealed" / shard.file_name


def record_offset(manifest: Manifest, shard: ShardEntry, index: int) -> int:
    record = manifest.chunk_size + TAG_SIZE
    return len(shard_header(manifest.dataset_id, shard.id)) + index * record


def expect_failure(kit: Kit, error: type[ValueError], match: str, **unseal_args: Any) -> None:
    with pytest.raises(error, match=match) as caught:
        kit.unseal(**unseal_args)
    assert "\n" not in str(caught.value)
    left = [p for p in (kit.root / "plain").rglob("*") if p.is_file()]
    assert left == [], f"plaintext left behind: {left}"


def resign(kit: Kit, manifest: Manifest) -> None:
    (kit.root / "sealed" / MANIFEST_NAME).write_bytes(sign_manifest(manifest, kit.signing_key))


def test_the_victim_is_unsealed_last_so_cleanup_is_really_tested(
    kit: Kit, sealed: Manifest
) -> None:
    assert len(sealed.shards) > 3
    assert kit.unseal().files[-1].name.startswith(victim(sealed).id)


def test_a_flipped_byte_fails_that_chunk(kit: Kit, sealed: Manifest) -> None:
    shard = victim(sealed)
    data = bytearray(shard_path(kit, shard).read_bytes())
    data[record_offset(sealed, shard, 1) + 100] ^= 0x01
    shard_path(kit, shard).write_bytes(bytes(data))
    expect_failure(kit, TamperedChunk, f"chunk 1 of shard {shard.id} failed authentication")


def test_reordered_chunks_fail(kit: Kit, sealed: Manifest) -> None:
    shard = victim(sealed)
    data = shard_path(kit, shard).read_bytes()
    first, second = record_offset(sealed, shard, 0), record_offset(sealed, shard, 1)
    third = record_offset(sealed, shard, 2)
    swapped = data[:first] + data[second:third] + data[first:second] + data[third:]
    shard_path(kit, shard).write_bytes(swapped)
    expect_failure(kit, TamperedChunk, "chunk 0 .* failed authentication")


def test_a_dropped_last_chunk_is_a_truncated_shard(kit: Kit, sealed: Manifest) -> None:
    shard = victim(sealed)
    data = shard_path(kit, shard).read_bytes()
    shard_path(kit, shard).write_bytes(data[: record_offset(sealed, shard, shard.chunks - 1)])
    expect_failure(kit, TruncatedShard, f"shard {shard.id} is .* truncated")


def test_a_full_chunk_promoted_to_last_fails_even_with_a_matching_manifest(
    kit: Kit, sealed: Manifest
) -> None:
    # The attacker also owns the signing key and shortens the manifest to match: the AAD's
    # last-chunk flag still exposes the truncation.
    shard = victim(sealed)
    data = shard_path(kit, shard).read_bytes()
    cut = record_offset(sealed, shard, shard.chunks - 1)
    shard_path(kit, shard).write_bytes(data[:cut])

    size = (shard.chunks - 1) * sealed.chunk_size
    shorter = replace(
        shard,
        plaintext_size=size,
        chunks=shard.chunks - 1,
        ciphertext_size=cut,
        digest="blake3:" + blake3(data[:cut]).hexdigest(),
    )
    resign(kit, replace(sealed, shards=(*sealed.shards[:-1], shorter)))
    expect_failure(kit, TamperedChunk, f"chunk {shard.chunks - 2} of shard {shard.id}")


def test_a_dek_holder_forging_a_valid_chunk_is_caught_by_the_signed_digest(
    kit: Kit, sealed: Manifest
) -> None:
    # Every job granted the dataset gets the DEKs and so can write chunks whose tags verify;
    # only the signed digest of the exact ciphertext stops it poisoning later jobs' data.
    shard = victim(sealed)
    dek = LocalDekProvider(kit.keyring).fetch(DekRequest.for_manifest(sealed))[shard.id]
    header = shard_header(sealed.dataset_id, shard.id)
    forged_record = AESGCM(bytes(dek)).encrypt(
        chunk_nonce(1), b"\x00" * sealed.chunk_size, chunk_aad(header, 1, last=False)
    )
    data = bytearray(shard_path(kit, shard).read_bytes())
    start = record_offset(sealed, shard, 1)
    data[start : start + len(forged_record)] = forged_record
    shard_path(kit, shard).write_bytes(bytes(data))
    expect_failure(kit, TamperedShard, f"shard {shard.id} does not match its digest")


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_failure_on_several_threads_leaves_no_plaintext(
    kit: Kit, sealed: Manifest, jobs: int
) -> None:
    shard = sealed.shards[1]
    data = bytearray(shard_path(kit, shard).read_bytes())
    data[record_offset(sealed, shard, 2) + 7] ^= 0x80
    shard_path(kit, shard).write_bytes(bytes(data))
    expect_failure(
        kit, TamperedChunk, f"chunk 2 of shard {shard.id}", options=UnsealOptions(jobs=jobs)
    )


def test_appended_bytes_are_detected(kit: Kit, sealed: Manifest) -> None:
    shard = victim(sealed)
    with shard_path(kit, shard).open("ab") as handle:
        handle.write(b"\x00" * 32)
    expect_failure(kit, TamperedShard, "bytes were added")


def test_a_shard_from_another_dataset_is_refused(kit: Kit, sealed: Manifest) -> None:
    other = kit.seal(kit.root / "corpus", kit.root / "other", kit.options(dataset="other-dataset"))
    assert other.manifest is not None
    stranger = kit.root / "other" / other.manifest.shards[-1].file_name
    shutil.copyfile(stranger, shard_path(kit, victim(sealed)))
    expect_failure(kit, WrongDataset, "belongs to dataset 'other-dataset', not 'call-center'")


def test_another_datasets_records_under_our_header_fail_authentication(
    kit: Kit, sealed: Manifest
) -> None:
    # Even with the header rewritten to look like ours, the AAD binds the dataset id.
    other = kit.seal(kit.root / "corpus", kit.root / "other", kit.options(dataset="other-dataset"))
    assert other.manifest is not None
    shard = victim(sealed)
    foreign = other.manifest.shards[-1]
    body = (kit.root / "other" / foreign.file_name).read_bytes()
    body = body[len(shard_header("other-dataset", foreign.id)) :]
    ours = shard_path(kit, shard).read_bytes()
    header = shard_header(sealed.dataset_id, shard.id)
    forged = (header + body + ours)[: len(ours)]
    shard_path(kit, shard).write_bytes(forged)
    expect_failure(kit, TamperedChunk, "chunk 0")


def test_swapped_shard_files_are_named(kit: Kit, sealed: Manifest) -> None:
    first, last = sealed.shards[0], sealed.shards[-1]
    a, b = shard_path(kit, first), shard_path(kit, last)
    a.rename(kit.root / "swap")
    b.rename(a)
    (kit.root / "swap").rename(b)
    expect_failure(kit, WrongShard, "holds shard")


def test_a_missing_shard_is_named_before_any_key_is_fetched(kit: Kit, sealed: Manifest) -> None:
    shard_path(kit, victim(sealed)).unlink()
    expect_failure(kit, MissingShard, f"{victim(sealed).id}.vxs is missing")


def test_an_edited_manifest_fails_its_signature(kit: Kit, sealed: Manifest) -> None:
    path = kit.root / "sealed" / MANIFEST_NAME
    document = json.loads(path.read_bytes())
    document["shards"][0]["audio"]["peak"] += 1
    path.write_bytes(json.dumps(document).encode())
    expect_failure(kit, BadSignature, "does not verify")


def test_a_manifest_signed_by_another_key_is_refused(kit: Kit, sealed: Manifest) -> None:
    resign_key = Ed25519PrivateKey.generate()
    path = kit.root / "sealed" / MANIFEST_NAME
    path.write_bytes(sign_manifest(sealed, resign_key))
    expect_failure(kit, BadSignature, "signed by key .*, not the expected")


def test_a_signature_lifted_onto_another_manifest_fails(kit: Kit, sealed: Manifest) -> None:
    path = kit.root / "sealed" / MANIFEST_NAME
    genuine = json.loads(path.read_bytes())
    forged = json.loads(sign_manifest(replace(sealed, dataset_id="x"), kit.signing_key))
    forged["signature"] = genuine["signature"]
    path.write_bytes(json.dumps(forged).encode())
    expect_failure(kit, BadSignature, "does not verify")


def test_an_unsigned_manifest_is_refused(kit: Kit, sealed: Manifest) -> None:
    path = kit.root / "sealed" / MANIFEST_NAME
    document = json.loads(path.read_bytes())
    del document["signature"]
    path.write_bytes(json.dumps(document).encode())
    expect_failure(kit, BadSignature, "no signature")


def test_a_retired_kek_version_is_named(kit: Kit, sealed: Manifest) -> None:
    kit.keyring.rotate("speech")
    kit.keyring.retire("speech", 1)
    expect_failure(kit, UnknownKekVersion, "KEK 'speech' version 1 was retired")


def test_a_kek_version_that_never_existed_is_named(kit: Kit, sealed: Manifest) -> None:
    resign(kit, replace(sealed, kek=KekRef("speech", 7)))
    expect_failure(kit, UnknownKekVersion, "KEK 'speech' version 7 does not exist")


def test_a_manifest_claiming_the_wrong_kek_version_fails_to_unwrap(
    kit: Kit, sealed: Manifest
) -> None:
    kit.keyring.rotate("speech")
    resign(kit, replace(sealed, kek=KekRef("speech", 2)))
    expect_failure(kit, KeyUnwrapFailed, "does not unwrap under KEK speech v2")


def test_wrapped_keys_moved_between_shards_fail_to_unwrap(kit: Kit, sealed: Manifest) -> None:
    first, last = sealed.shards[0], sealed.shards[-1]
    moved = (
        replace(first, wrapped_dek=last.wrapped_dek),
        *sealed.shards[1:-1],
        replace(last, wrapped_dek=first.wrapped_dek),
    )
    resign(kit, replace(sealed, shards=moved))
    expect_failure(kit, KeyUnwrapFailed, "wrapped key was moved or altered")


def test_a_manifest_for_another_dataset_than_expected_is_refused(
    kit: Kit, sealed: Manifest
) -> None:
    expect_failure(
        kit,
        WrongDataset,
        "manifest is for dataset 'call-center', expected 'payroll'",
        options=UnsealOptions(expected_dataset="payroll"),
    )
