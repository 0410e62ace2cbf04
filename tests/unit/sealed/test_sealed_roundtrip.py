"""Seal then unseal a generated corpus: bit-exact, names not leaked, keys bound to shards."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

import pytest

from voxgate.sealed.errors import BadManifest, OutputConflict
from voxgate.sealed.format import SHARD_SUFFIX
from voxgate.sealed.manifest import check_relative_path
from voxgate.sealed.seal import MANIFEST_NAME
from voxgate.sealed.synthetic import write_wav

if TYPE_CHECKING:
    from tests.unit.sealed.conftest import Kit


def test_seal_then_unseal_is_bit_exact_for_every_rate_channel_count_and_width(kit: Kit) -> None:
    src = kit.corpus()
    result = kit.seal(src)
    assert result.manifest is not None
    assert len(result.manifest.shards) == len(kit.layout)
    assert result.rejected == ()

    unsealed = kit.unseal()

    assert len(unsealed.files) == len(kit.layout)
    for shard in result.manifest.shards:
        original = (src / result.sources[shard.id]).read_bytes()
        assert (kit.root / "plain" / f"{shard.id}.wav").read_bytes() == original
    assert unsealed.plaintext_bytes == sum(p.stat().st_size for p in src.rglob("*.wav"))
    seen = {(s.audio.sample_rate_hz, s.audio.channels) for s in result.manifest.shards}
    assert {(8000, 1), (16000, 2), (44100, 1), (48000, 2)} <= seen
    assert {s.audio.sample_width_bits for s in result.manifest.shards} == {8, 16, 24, 32}


def test_manifest_records_audio_and_chunks_but_no_source_names(kit: Kit) -> None:
    result = kit.seal(kit.corpus())
    assert result.manifest is not None
    text = (kit.root / "sealed" / MANIFEST_NAME).read_text()
    for name in ("alice", "bob", "carol", "take-01", "session"):
        assert name not in text
    by_path = {result.sources[s.id]: s for s in result.manifest.shards}
    take = by_path["alice-smith/take-01.wav"]
    assert take.audio.sample_rate_hz == 8000
    assert take.audio.frames == 2400
    assert take.audio.duration_ms == 300
    assert take.chunks == -(-take.plaintext_size // kit.chunk_size) > 1
    assert result.manifest.name_policy == "opaque"
    sealed_files = sorted(p.name for p in (kit.root / "sealed").iterdir())
    assert sealed_files == sorted([MANIFEST_NAME, *(s.id + SHARD_SUFFIX for s in by_path.values())])


def test_manifest_is_canonical_json_with_a_detached_signature(kit: Kit) -> None:
    kit.seal(kit.corpus())
    data = (kit.root / "sealed" / MANIFEST_NAME).read_bytes()
    document = json.loads(data)
    assert data == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert document["signature"]["algorithm"] == "Ed25519"
    assert document["kek"] == {"id": "speech", "version": 1}


def test_relative_paths_are_kept_only_when_asked_and_restored_on_unseal(kit: Kit) -> None:
    src = kit.corpus()
    result = kit.seal(src, options=kit.options(store_paths=True))
    assert result.manifest is not None
    assert result.manifest.name_policy == "relative-path"
    kit.unseal()
    for relative, *_ in kit.layout:
        assert (kit.root / "plain" / relative).read_bytes() == (src / relative).read_bytes()


def test_plaintext_files_are_private_and_no_temporary_files_remain(kit: Kit) -> None:
    kit.seal(kit.corpus())
    kit.unseal()
    for path in (kit.root / "plain").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not path.name.startswith(".")
    assert not [p for p in (kit.root / "sealed").iterdir() if p.name.startswith(".")]


def test_a_file_that_is_an_exact_multiple_of_the_chunk_size_needs_no_extra_chunk(
    kit: Kit,
) -> None:
    src = kit.root / "exact"
    # 44-byte header + 4052 bytes of 16-bit mono = 4096 bytes: exactly one chunk.
    write_wav(src / "one-chunk.wav", rate=8000, seconds=2026 / 8000)
    assert (src / "one-chunk.wav").stat().st_size == kit.chunk_size
    result = kit.seal(src)
    assert result.manifest is not None
    assert result.manifest.shards[0].chunks == 1
    kit.unseal()
    (plain,) = (kit.root / "plain").iterdir()
    assert plain.read_bytes() == (src / "one-chunk.wav").read_bytes()


def test_sealing_twice_gives_different_keys_and_ids(kit: Kit) -> None:
    src = kit.corpus()
    first = kit.seal(src, kit.root / "one")
    second = kit.seal(src, kit.root / "two")
    assert first.manifest is not None and second.manifest is not None
    assert not {s.id for s in first.manifest.shards} & {s.id for s in second.manifest.shards}
    assert not {s.digest for s in first.manifest.shards} & {
        s.digest for s in second.manifest.shards
    }


def test_sealing_refuses_an_output_directory_that_already_holds_a_dataset(kit: Kit) -> None:
    src = kit.corpus()
    kit.seal(src)
    manifest_before = (kit.root / "sealed" / MANIFEST_NAME).read_bytes()
    with pytest.raises(OutputConflict, match="already holds a sealed dataset"):
        kit.seal(src)
    assert (kit.root / "sealed" / MANIFEST_NAME).read_bytes() == manifest_before


def test_unseal_refuses_to_overwrite_existing_output(kit: Kit) -> None:
    kit.seal(kit.corpus(), options=kit.options(store_paths=True))
    victim = kit.root / "plain" / "carol" / "eight-bit.wav"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"mine")
    with pytest.raises(OutputConflict, match="already exists"):
        kit.unseal()
    assert victim.read_bytes() == b"mine"
    assert sorted(p.name for p in (kit.root / "plain").rglob("*")) == ["carol", "eight-bit.wav"]


@pytest.mark.parametrize(
    "bad", ["../x.wav", "/etc/passwd", "a/../../b.wav", "a//b.wav", "a\\b.wav", "./a.wav", ""]
)
def test_source_paths_that_could_escape_the_output_directory_are_refused(bad: str) -> None:
    with pytest.raises(BadManifest, match="sourcePath"):
        check_relative_path(bad)


def test_a_plain_relative_source_path_is_accepted() -> None:
    assert check_relative_path("speaker/take.wav") == "speaker/take.wav"
