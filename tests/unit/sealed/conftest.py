"""Fixtures for sealed-data tests: a kit holding a file keyring, an Ed25519 signing key and
seal/unseal shortcuts over real WAV files (always one core: unit tests start no processes).
Test modules import `Kit` for type checking only: `conftest` is not importable by name."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.keys.file_provider import FileProvider
from voxgate.sealed.audio import AudioChecks
from voxgate.sealed.dek import LocalDekProvider
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, SealResult, seal_corpus
from voxgate.sealed.synthetic import write_wav
from voxgate.sealed.unseal import UnsealOptions, UnsealResult, unseal

TEST_CHUNK_SIZE = 4096
CORPUS_LAYOUT = (
    # (relative path, sample rate, channels, sample width in bytes, seconds)
    ("alice-smith/take-01.wav", 8000, 1, 2, 0.30),
    ("alice-smith/take-02.wav", 16000, 2, 2, 0.25),
    ("bob-jones/session/a.wav", 44100, 1, 2, 0.20),
    ("bob-jones/session/b.wav", 48000, 2, 2, 0.15),
    ("carol/eight-bit.wav", 16000, 1, 1, 0.10),
    ("carol/twenty-four.wav", 48000, 2, 3, 0.05),
    ("carol/thirty-two.wav", 16000, 1, 4, 0.05),
)


@dataclass
class Kit:
    root: Path
    keyring: FileProvider
    signing_key: Ed25519PrivateKey
    kek_id: str = "speech"
    chunk_size: int = TEST_CHUNK_SIZE
    layout: tuple[tuple[str, int, int, int, float], ...] = CORPUS_LAYOUT

    def corpus(self, name: str = "corpus") -> Path:
        src = self.root / name
        for seed, (relative, rate, channels, width, seconds) in enumerate(CORPUS_LAYOUT):
            write_wav(
                src / relative,
                rate=rate,
                channels=channels,
                width=width,
                seconds=seconds,
                seed=seed,
            )
        return src

    def options(self, dataset: str = "call-center", **changes: Any) -> SealOptions:
        base = SealOptions(dataset_id=dataset, chunk_size=self.chunk_size, checks=AudioChecks())
        return replace(base, **changes)

    def seal(
        self,
        src: Path,
        out: Path | None = None,
        options: SealOptions | None = None,
        reports: list[str] | None = None,
    ) -> SealResult:
        keys = SealKeys(self.keyring, self.kek_id, self.signing_key)
        sink = reports if reports is not None else []
        return seal_corpus(
            src, out or self.root / "sealed", options or self.options(), keys, report=sink.append
        )

    def unseal(
        self,
        sealed: Path | None = None,
        out: Path | None = None,
        *,
        manifest: bytes | None = None,
        key: Ed25519PrivateKey | None = None,
        options: UnsealOptions | None = None,
    ) -> UnsealResult:
        sealed = sealed or self.root / "sealed"
        data = manifest if manifest is not None else (sealed / MANIFEST_NAME).read_bytes()
        return unseal(
            data,
            (key or self.signing_key).public_key(),
            LocalDekProvider(self.keyring),
            sealed,
            out or self.root / "plain",
            options=options,
        )


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    keyring = FileProvider(tmp_path / "keyring.json")
    keyring.create("speech")
    return Kit(tmp_path, keyring, Ed25519PrivateKey.generate())
