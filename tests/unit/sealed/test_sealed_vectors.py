"""The committed test vectors (tests/vectors/sealed/) are reproduced byte for byte.

The AADs, nonces and wrap AADs are rebuilt here straight from docs/sealed-format.md with
struct.pack, independently of voxgate.sealed.format, so a layout change cannot go unnoticed.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxgate.keys.file_provider import FileProvider
from voxgate.keys.model import KekRef
from voxgate.sealed.audio import AudioChecks, inspect_audio
from voxgate.sealed.dek import LocalDekProvider
from voxgate.sealed.format import chunk_aad, chunk_nonce, shard_header, wrap_aad
from voxgate.sealed.keywrap import unwrap_dek, wrap_dek
from voxgate.sealed.manifest import Manifest, ShardEntry, sign_manifest, verify_manifest
from voxgate.sealed.stream import encrypt_stream
from voxgate.sealed.unseal import unseal

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "sealed"
DOC = json.loads((VECTORS / "vectors.json").read_text())
KEK = KekRef(DOC["kek"]["id"], DOC["kek"]["version"])
KEK_KEY = bytes.fromhex(DOC["kek"]["key"])
SHARDS = DOC["shards"]


def lp(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def doc_header(shard_id: str) -> bytes:
    return b"VXGSHARD" + struct.pack(">H", 2) + lp(DOC["datasetId"]) + lp(shard_id)


@pytest.mark.parametrize("vector", SHARDS, ids=[s["id"] for s in SHARDS])
def test_header_nonces_and_aads_follow_the_documented_layout(vector: dict[str, Any]) -> None:
    header = doc_header(vector["id"])
    assert shard_header(DOC["datasetId"], vector["id"]).hex() == vector["header"] == header.hex()
    for chunk in vector["chunks"]:
        nonce = bytes(4) + struct.pack(">Q", chunk["index"])
        aad = header + struct.pack(">QB", chunk["index"], int(chunk["last"]))
        assert chunk_nonce(chunk["index"]).hex() == chunk["nonce"] == nonce.hex()
        assert chunk_aad(header, chunk["index"], chunk["last"]).hex() == chunk["aad"] == aad.hex()
    expected_wrap_aad = (
        b"VXGKWRAP"
        + struct.pack(">H", 2)
        + lp(DOC["datasetId"])
        + lp(vector["id"])
        + lp(KEK.id)
        + struct.pack(">I", KEK.version)
    )
    assert wrap_aad(DOC["datasetId"], vector["id"], KEK.id, KEK.version) == expected_wrap_aad
    assert expected_wrap_aad.hex() == vector["wrapAad"]


@pytest.mark.parametrize("vector", SHARDS, ids=[s["id"] for s in SHARDS])
def test_each_chunk_record_is_plain_aes_256_gcm(vector: dict[str, Any]) -> None:
    aead = AESGCM(bytes.fromhex(vector["dek"]))
    for chunk in vector["chunks"]:
        record = aead.encrypt(
            bytes.fromhex(chunk["nonce"]),
            bytes.fromhex(chunk["plaintext"]),
            bytes.fromhex(chunk["aad"]),
        )
        assert record.hex() == chunk["record"]
    body = "".join(chunk["record"] for chunk in vector["chunks"])
    assert vector["header"] + body == vector["shardFile"]


@pytest.mark.parametrize("vector", SHARDS, ids=[s["id"] for s in SHARDS])
def test_the_code_reproduces_shard_files_and_wrapped_keys(vector: dict[str, Any]) -> None:
    sink = io.BytesIO()
    dek = bytes.fromhex(vector["dek"])
    header = shard_header(DOC["datasetId"], vector["id"])
    plaintext = io.BytesIO(bytes.fromhex(vector["plaintext"]))
    stats = encrypt_stream(plaintext, sink, dek, header, DOC["chunkSize"])
    assert sink.getvalue().hex() == vector["shardFile"]
    assert (VECTORS / "shards" / f"{vector['id']}.vxs").read_bytes() == sink.getvalue()
    assert stats.digest == vector["digest"] == "blake3:" + blake3(sink.getvalue()).hexdigest()
    nonce = bytes.fromhex(vector["wrapNonce"])
    wrapped = wrap_dek(KEK_KEY, KEK, DOC["datasetId"], vector["id"], dek, nonce=nonce)
    assert wrapped.hex() == vector["wrappedDek"]
    assert unwrap_dek(KEK_KEY, KEK, DOC["datasetId"], vector["id"], wrapped) == dek


def test_an_empty_file_is_one_empty_authenticated_chunk() -> None:
    vector = DOC["emptyStream"]
    sink = io.BytesIO()
    header = shard_header(DOC["datasetId"], vector["id"])
    stats = encrypt_stream(io.BytesIO(), sink, bytes.fromhex(vector["dek"]), header, 16)
    assert sink.getvalue().hex() == vector["shardFile"]
    assert (stats.chunks, stats.plaintext_size) == (1, 0)
    assert len(sink.getvalue()) == len(header) + 16


def vector_manifest() -> Manifest:
    entries = []
    for vector in SHARDS:
        plaintext = bytes.fromhex(vector["plaintext"])
        entries.append(
            ShardEntry(
                id=vector["id"],
                plaintext_size=len(plaintext),
                chunks=len(vector["chunks"]),
                ciphertext_size=len(vector["shardFile"]) // 2,
                digest=vector["digest"],
                wrapped_dek=bytes.fromhex(vector["wrappedDek"]),
                audio=inspect_audio(io.BytesIO(plaintext), vector["id"]),
            )
        )
    return Manifest(
        dataset_id=DOC["datasetId"],
        created_at=DOC["createdAt"],
        chunk_size=DOC["chunkSize"],
        kek=KEK,
        name_policy="opaque",
        checks=AudioChecks(),
        shards=tuple(entries),
    )


def test_the_code_reproduces_the_canonical_manifest_and_its_signature() -> None:
    manifest = vector_manifest()
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["signingKeySeed"]))
    assert manifest.canonical_body().decode() == DOC["manifest"]["canonicalBody"]
    assert manifest.digest() == DOC["manifest"]["digest"]
    signed = sign_manifest(manifest, key)
    assert signed.decode() == DOC["manifest"]["file"]
    assert (VECTORS / "manifest.json").read_bytes() == signed
    assert verify_manifest(signed, key.public_key()) == manifest


def test_the_committed_vector_files_unseal_to_the_vector_plaintexts(tmp_path: Path) -> None:
    # A keyring in the documented layout (docs/keys.md) holding just the vector KEK.
    path = tmp_path / "keyring.json"
    version = {"key": base64.b64encode(KEK_KEY).decode(), "createdAt": DOC["createdAt"]}
    keks = {KEK.id: {"versions": {str(KEK.version): version}, "retired": [1, 2]}}
    path.write_text(json.dumps({"formatVersion": 1, "keks": keks}))
    path.chmod(0o600)
    keyring = FileProvider(path)
    assert keyring.latest_version(KEK.id) == KEK.version
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC["signingKeySeed"]))
    result = unseal(
        (VECTORS / "manifest.json").read_bytes(),
        key.public_key(),
        LocalDekProvider(keyring),
        VECTORS / "shards",
        tmp_path / "plain",
    )
    assert len(result.files) == len(SHARDS)
    for vector in SHARDS:
        written = (tmp_path / "plain" / f"{vector['id']}.wav").read_bytes()
        assert written.hex() == vector["plaintext"]
