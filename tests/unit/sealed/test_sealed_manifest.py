"""Manifest parsing is strict: anything ambiguous or inconsistent is refused, even when signed."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.sealed.errors import BadManifest, SealError
from voxgate.sealed.format import SIGNING_CONTEXT, canonical_json
from voxgate.sealed.manifest import public_key_b64, sign_manifest, verify_manifest

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VECTOR = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "sealed" / "manifest.json").read_bytes()
)


def signed(body: dict[str, Any]) -> bytes:
    """Sign an arbitrary body by hand, so the parser, not the signature, is what is tested."""
    body = {k: v for k, v in body.items() if k != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    signature = KEY.sign(SIGNING_CONTEXT + canonical)
    body["signature"] = {
        "algorithm": "Ed25519",
        "publicKey": public_key_b64(KEY.public_key()),
        "value": base64.b64encode(signature).decode(),
    }
    return json.dumps(body).encode()


def body_with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(VECTOR))
    body.update(changes)
    return body


def shard_with(**changes: Any) -> dict[str, Any]:
    body = body_with()
    body["shards"][0].update(changes)
    return body


def test_the_vector_body_parses() -> None:
    manifest = verify_manifest(signed(body_with()), KEY.public_key())
    assert manifest.dataset_id == "vectors/speech-demo"
    assert len(manifest.shards) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (body_with(formatVersion=1), "sealed format version 1 is not supported"),
        (body_with(kind="other"), "kind is not"),
        (body_with(extra=1), "unknown fields extra"),
        (body_with(aead="AES-128-GCM"), "aead and keyWrap must both be AES-256-GCM"),
        (body_with(datasetId="Bad_Name"), "not a lowercase DNS name"),
        (body_with(chunkSize=0), "chunk size 0 is outside"),
        (body_with(shards=[]), "shards is empty"),
        (body_with(namePolicy="paths"), "namePolicy must be one of"),
        (shard_with(chunks=99), "99 chunks cannot hold"),
        (shard_with(ciphertextSize=1), "ciphertextSize 1 does not match"),
        (shard_with(digest="ABC"), "digest is not ALGORITHM:HEX"),
        # Fail closed: a digest this voxgate cannot compute is refused, never skipped.
        (shard_with(digest="sha256:" + "0" * 64), "digest algorithm 'sha256' is not supported"),
        (shard_with(digest="none:"), "digest algorithm 'none' is not supported"),
        (shard_with(digest="blake3:" + "A" * 64), "blake3: and 64 lowercase hex"),
        (shard_with(digest="blake3:" + "0" * 63), "blake3: and 64 lowercase hex"),
        (shard_with(sha256="0" * 64), "unknown fields sha256"),
        (shard_with(wrappedDek="AAAA"), "wrappedDek is not 60 bytes"),
        (shard_with(sourcePath="a.wav"), "sourcePath must be present exactly under"),
        (shard_with(id="../../etc"), "is not 32 lowercase hex"),
        (shard_with(plaintextSize=True), "plaintextSize is missing or not a int"),
    ],
)
def test_malformed_or_inconsistent_signed_manifests_are_refused(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadManifest, match=message):
        verify_manifest(signed(body), KEY.public_key())


def test_duplicate_shard_ids_are_refused() -> None:
    body = body_with()
    body["shards"][1] = dict(body["shards"][0])
    with pytest.raises(BadManifest, match="two shards have the same shard id"):
        verify_manifest(signed(body), KEY.public_key())


def test_duplicate_json_keys_are_refused() -> None:
    text = signed(body_with()).decode().replace('{"aead"', '{"datasetId":"x","aead"', 1)
    with pytest.raises(BadManifest, match="repeats the key 'datasetId'"):
        verify_manifest(text.encode(), KEY.public_key())


def test_floats_are_refused_when_reading_and_writing() -> None:
    with pytest.raises(BadManifest, match="floating-point"):
        verify_manifest(signed(body_with(chunkSize=16.0)), KEY.public_key())
    with pytest.raises(BadManifest, match="floating-point"):
        canonical_json({"a": [1, {"b": 0.5}]})


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(BadManifest, match="manifest is not JSON"):
        verify_manifest(b"\x00garbage", KEY.public_key())


def test_canonical_json_sorts_keys_and_escapes_non_ascii() -> None:
    assert canonical_json({"b": 1, "a": ["ü", True, None]}) == b'{"a":["\\u00fc",true,null],"b":1}'


def test_the_digest_covers_the_body_and_survives_re_signing() -> None:
    manifest = verify_manifest(signed(body_with()), KEY.public_key())
    other_key = Ed25519PrivateKey.generate()
    again = verify_manifest(sign_manifest(manifest, other_key), other_key.public_key())
    assert again.digest() == manifest.digest()
    assert replace(manifest, created_at="2030-01-01T00:00:00Z").digest() != manifest.digest()


def test_seal_errors_are_value_errors() -> None:
    assert issubclass(BadManifest, SealError)
    assert issubclass(SealError, ValueError)
