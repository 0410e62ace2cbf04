"""Fixtures for KEK tests: a file keyring, a signing key and a small sealed dataset.
Test modules import `Dataset` for type checking only: `conftest` is not importable by name."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.keys.file_provider import FileProvider
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, seal_corpus


@dataclass
class Dataset:
    root: Path
    keyring: FileProvider
    signing_key: Ed25519PrivateKey
    corpus: Path
    sealed: Path

    @property
    def manifest(self) -> Path:
        return self.sealed / MANIFEST_NAME


def seal_small_dataset(root: Path, keyring: FileProvider) -> Dataset:
    keyring.create("speech")
    corpus = root / "corpus"
    corpus.mkdir()
    for index, rate in enumerate((8000, 16000, 48000)):
        with wave.open(str(corpus / f"{index}.wav"), "wb") as writer:
            writer.setnchannels(1 + index % 2)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes(bytes(range(256)) * (rate // 256))
    signing_key = Ed25519PrivateKey.generate()
    sealed = root / "sealed"
    options = SealOptions(dataset_id="rotation-demo", chunk_size=4096)
    keys = SealKeys(keyring, "speech", signing_key)
    seal_corpus(corpus, sealed, options, keys, report=lambda line: None)
    return Dataset(root, keyring, signing_key, corpus, sealed)


@pytest.fixture
def keyring(tmp_path: Path) -> FileProvider:
    return FileProvider(tmp_path / "keyring.json")


@pytest.fixture
def dataset(tmp_path: Path, keyring: FileProvider) -> Dataset:
    return seal_small_dataset(tmp_path, keyring)
