"""Regenerate the sealed-format test vectors (docs/sealed-format.md, "Test vectors").

Run only when the format version changes:  .venv/bin/python tests/vectors/sealed/generate.py
Every key, nonce and id is fixed, so the output is the same byte for byte on every run;
tests/unit/sealed/test_sealed_vectors.py checks the code still reproduces the committed files.
"""

from __future__ import annotations

import io
import json
import struct
import wave
from pathlib import Path
from typing import Any

from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.keys.model import KekRef
from voxgate.sealed.audio import AudioChecks, inspect_audio
from voxgate.sealed.format import (
    FORMAT_VERSION,
    chunk_aad,
    chunk_count,
    chunk_nonce,
    shard_header,
    wrap_aad,
)
from voxgate.sealed.keywrap import wrap_dek
from voxgate.sealed.manifest import Manifest, ShardEntry, sign_manifest
from voxgate.sealed.stream import encrypt_stream

HERE = Path(__file__).resolve().parent
DATASET_ID = "vectors/speech-demo"
CHUNK_SIZE = 16
CREATED_AT = "2025-01-01T00:00:00Z"
KEK = KekRef("vector-kek", 3)
KEK_KEY = bytes(range(0x00, 0x20))
SIGNING_SEED = bytes(range(0x40, 0x60))


def wav_bytes(rate: int, channels: int, width: int, frames: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return buffer.getvalue()


SHARD_INPUTS = [
    {
        # 48 bytes: exactly three full 16-byte chunks (no empty trailing chunk).
        "id": "0" * 31 + "1",
        "dek": bytes(range(0x80, 0xA0)),
        "wrapNonce": bytes(range(0xC0, 0xCC)),
        "plaintext": wav_bytes(8000, 1, 2, struct.pack("<hh", 1000, -32768)),
    },
    {
        # 50 bytes: three full chunks and a 2-byte last chunk.
        "id": "0" * 31 + "2",
        "dek": bytes(range(0xA0, 0xC0)),
        "wrapNonce": bytes(range(0xD0, 0xDC)),
        "plaintext": wav_bytes(16000, 2, 1, bytes([128, 255, 0, 128, 200, 50])),
    },
]


def shard_vector(item: dict[str, Any]) -> tuple[dict[str, Any], ShardEntry, bytes]:
    shard_id: str = item["id"]
    plaintext: bytes = item["plaintext"]
    header = shard_header(DATASET_ID, shard_id)
    sink = io.BytesIO()
    stats = encrypt_stream(io.BytesIO(plaintext), sink, item["dek"], header, CHUNK_SIZE)
    shard_file = sink.getvalue()
    count = chunk_count(len(plaintext), CHUNK_SIZE)
    chunks = []
    offset = len(header)
    for index in range(count):
        last = index == count - 1
        size = (len(plaintext) - index * CHUNK_SIZE if last else CHUNK_SIZE) + 16
        chunks.append(
            {
                "index": index,
                "last": last,
                "nonce": chunk_nonce(index).hex(),
                "aad": chunk_aad(header, index, last).hex(),
                "plaintext": plaintext[index * CHUNK_SIZE : index * CHUNK_SIZE + size - 16].hex(),
                "record": shard_file[offset : offset + size].hex(),
            }
        )
        offset += size
    wrapped = wrap_dek(KEK_KEY, KEK, DATASET_ID, shard_id, item["dek"], nonce=item["wrapNonce"])
    entry = ShardEntry(
        id=shard_id,
        plaintext_size=stats.plaintext_size,
        chunks=stats.chunks,
        ciphertext_size=stats.ciphertext_size,
        digest=stats.digest,
        wrapped_dek=wrapped,
        audio=inspect_audio(io.BytesIO(plaintext), shard_id),
    )
    vector = {
        "id": shard_id,
        "dek": item["dek"].hex(),
        "wrapNonce": item["wrapNonce"].hex(),
        "plaintext": plaintext.hex(),
        "header": header.hex(),
        "chunks": chunks,
        "shardFile": shard_file.hex(),
        "digest": "blake3:" + blake3(shard_file).hexdigest(),
        "wrapAad": wrap_aad(DATASET_ID, shard_id, KEK.id, KEK.version).hex(),
        "wrappedDek": wrapped.hex(),
    }
    return vector, entry, shard_file


def empty_stream_vector() -> dict[str, Any]:
    """An empty file is one authenticated empty last chunk: just a 16-byte tag."""
    shard_id = "0" * 32
    dek = bytes(range(0xE0, 0x100))
    header = shard_header(DATASET_ID, shard_id)
    sink = io.BytesIO()
    encrypt_stream(io.BytesIO(b""), sink, dek, header, CHUNK_SIZE)
    return {
        "id": shard_id,
        "dek": dek.hex(),
        "header": header.hex(),
        "shardFile": sink.getvalue().hex(),
    }


def main() -> None:
    shard_vectors = []
    entries = []
    (HERE / "shards").mkdir(exist_ok=True)
    for item in SHARD_INPUTS:
        vector, entry, shard_file = shard_vector(item)
        shard_vectors.append(vector)
        entries.append(entry)
        (HERE / "shards" / entry.file_name).write_bytes(shard_file)
    manifest = Manifest(
        dataset_id=DATASET_ID,
        created_at=CREATED_AT,
        chunk_size=CHUNK_SIZE,
        kek=KEK,
        name_policy="opaque",
        checks=AudioChecks(),
        shards=tuple(entries),
    )
    manifest_file = sign_manifest(manifest, Ed25519PrivateKey.from_private_bytes(SIGNING_SEED))
    (HERE / "manifest.json").write_bytes(manifest_file)
    document = {
        "description": "voxgate sealed format v2 test vectors; see docs/sealed-format.md",
        "formatVersion": FORMAT_VERSION,
        "datasetId": DATASET_ID,
        "chunkSize": CHUNK_SIZE,
        "createdAt": CREATED_AT,
        "kek": {"id": KEK.id, "version": KEK.version, "key": KEK_KEY.hex()},
        "signingKeySeed": SIGNING_SEED.hex(),
        "shards": shard_vectors,
        "emptyStream": empty_stream_vector(),
        "manifest": {
            "canonicalBody": manifest.canonical_body().decode("ascii"),
            "digest": manifest.digest(),
            "file": manifest_file.decode("ascii"),
        },
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    (HERE / "vectors.json").write_text(text, encoding="ascii")


if __name__ == "__main__":
    main()
