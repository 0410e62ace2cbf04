"""The signed manifest: the shards of a dataset, how to check them, how their keys are wrapped.

The file is one canonical JSON object (format.canonical_json). Its `signature` member is detached:
the Ed25519 signature covers SIGNING_CONTEXT followed by the canonical bytes of the object
without `signature`. What is verified is exactly what is then parsed and used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from voxgate.keys.errors import KeyStoreError
from voxgate.keys.model import KekRef, check_kek_id
from voxgate.sealed.audio import AudioChecks, AudioInfo
from voxgate.sealed.digest import check_digest
from voxgate.sealed.errors import BadManifest, BadSignature, SealError
from voxgate.sealed.format import (
    FORMAT_VERSION,
    SHARD_SUFFIX,
    SIGNING_CONTEXT,
    WRAPPED_DEK_SIZE,
    canonical_json,
    check_chunk_size,
    check_dataset_id,
    check_shard_id,
    chunk_count,
    ciphertext_size,
    shard_header,
)

KIND = "voxgate.io/sealed-manifest"
AEAD = "AES-256-GCM"
KEY_WRAP = "AES-256-GCM"
SIGNATURE_ALGORITHM = "Ed25519"
NAME_POLICIES = ("opaque", "relative-path")
MAX_MANIFEST_BYTES = 512 << 20
_TOP_FIELDS = {
    "kind",
    "formatVersion",
    "datasetId",
    "createdAt",
    "aead",
    "keyWrap",
    "chunkSize",
    "kek",
    "namePolicy",
    "audioChecks",
    "shards",
}
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass(frozen=True)
class ShardEntry:
    id: str
    plaintext_size: int
    chunks: int
    ciphertext_size: int
    digest: str  # `blake3:<hex>` of the whole shard file (voxgate.sealed.digest)
    wrapped_dek: bytes
    audio: AudioInfo
    source_path: str | None = None  # only under the "relative-path" name policy

    @property
    def file_name(self) -> str:
        return self.id + SHARD_SUFFIX

    def output_path(self) -> PurePosixPath:
        """Where unseal writes the plaintext, relative to its output directory."""
        if self.source_path is not None:
            return PurePosixPath(self.source_path)
        return PurePosixPath(f"{self.id}.{self.audio.format}")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "plaintextSize": self.plaintext_size,
            "chunks": self.chunks,
            "ciphertextSize": self.ciphertext_size,
            "digest": self.digest,
            "wrappedDek": base64.b64encode(self.wrapped_dek).decode("ascii"),
            "audio": self.audio.to_json(),
        }
        if self.source_path is not None:
            data["sourcePath"] = self.source_path
        return data


@dataclass(frozen=True)
class Manifest:
    dataset_id: str
    created_at: str
    chunk_size: int
    kek: KekRef
    name_policy: str
    checks: AudioChecks
    shards: tuple[ShardEntry, ...]
    format_version: int = FORMAT_VERSION

    def body(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "formatVersion": self.format_version,
            "datasetId": self.dataset_id,
            "createdAt": self.created_at,
            "aead": AEAD,
            "keyWrap": KEY_WRAP,
            "chunkSize": self.chunk_size,
            "kek": {"id": self.kek.id, "version": self.kek.version},
            "namePolicy": self.name_policy,
            "audioChecks": self.checks.to_json(),
            "shards": [shard.to_json() for shard in self.shards],
        }

    def canonical_body(self) -> bytes:
        return canonical_json(self.body())

    def digest(self) -> str:
        """`sha256:<hex>` of the canonical unsigned body (SpeechDataset.status.manifestDigest)."""
        return "sha256:" + hashlib.sha256(self.canonical_body()).hexdigest()

    @property
    def total_duration_ms(self) -> int:
        return sum(shard.audio.duration_ms for shard in self.shards)

    @classmethod
    def from_body(cls, body: Any) -> Manifest:
        try:
            return _manifest_from_body(body)
        except (SealError, KeyStoreError) as error:
            raise BadManifest(f"manifest: {error}") from None


def public_key_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    """The manifest file's bytes: canonical body plus the detached signature member."""
    body = manifest.body()
    signature = key.sign(SIGNING_CONTEXT + canonical_json(body))
    body["signature"] = {
        "algorithm": SIGNATURE_ALGORITHM,
        "publicKey": public_key_b64(key.public_key()),
        "value": base64.b64encode(signature).decode("ascii"),
    }
    return canonical_json(body)


def verify_manifest(data: bytes, expected_key: Ed25519PublicKey) -> Manifest:
    body, signature = _split(data)
    expected = public_key_b64(expected_key)
    if signature.get("algorithm") != SIGNATURE_ALGORITHM:
        raise BadSignature(f"manifest signature algorithm is not {SIGNATURE_ALGORITHM}")
    if signature.get("publicKey") != expected:
        raise BadSignature(
            f"manifest is signed by key {str(signature.get('publicKey'))[:12]}..., "
            f"not the expected {expected[:12]}..."
        )
    try:
        value = base64.b64decode(str(signature.get("value")), validate=True)
        expected_key.verify(value, SIGNING_CONTEXT + canonical_json(body))
    except (InvalidSignature, binascii.Error, ValueError):
        raise BadSignature(
            "manifest signature does not verify: it was edited after signing or forged"
        ) from None
    return Manifest.from_body(body)


def read_manifest_unverified(data: bytes) -> Manifest:
    """Parse without checking the signature: only for tooling that decides nothing on trust."""
    return Manifest.from_body(_split(data)[0])


def _split(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(data) > MAX_MANIFEST_BYTES:
        raise BadManifest(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        document = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_no_float
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadManifest(f"manifest is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadManifest("manifest is not a JSON object")
    signature = document.pop("signature", None)
    if not isinstance(signature, dict):
        raise BadSignature("manifest has no signature")
    return document, signature


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadManifest(f"manifest repeats the key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise BadManifest(f"manifest may not contain floating-point numbers ({text})")


def _get(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadManifest(f"{where}{key} is missing or not a {kind.__name__}")
    return value


def _get_int(data: dict[str, Any], key: str, where: str) -> int:
    value: int = _get(data, key, int, where)
    if value < 0:
        raise BadManifest(f"{where}{key} is negative")
    return value


def _only(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise BadManifest(f"{where}unknown fields {', '.join(sorted(unknown))}")


def _manifest_from_body(body: Any) -> Manifest:
    if not isinstance(body, dict):
        raise BadManifest("manifest is not a JSON object")
    if body.get("kind") != KIND:
        raise BadManifest(f"kind is not {KIND!r}")
    version = _get_int(body, "formatVersion", "")
    if version != FORMAT_VERSION:
        raise BadManifest(
            f"sealed format version {version} is not supported (this voxgate reads "
            f"{FORMAT_VERSION})"
        )
    _only(body, _TOP_FIELDS, "")
    if body.get("aead") != AEAD or body.get("keyWrap") != KEY_WRAP:
        raise BadManifest(f"aead and keyWrap must both be {AEAD}")
    dataset_id = check_dataset_id(_get(body, "datasetId", str, ""))
    created_at = _get(body, "createdAt", str, "")
    if not _TIMESTAMP.fullmatch(created_at):
        raise BadManifest("createdAt is not YYYY-MM-DDTHH:MM:SSZ")
    chunk_size = check_chunk_size(_get_int(body, "chunkSize", ""))
    kek_data = _get(body, "kek", dict, "")
    _only(kek_data, {"id", "version"}, "kek: ")
    kek = KekRef(
        check_kek_id(_get(kek_data, "id", str, "kek.")), _get_int(kek_data, "version", "kek.")
    )
    name_policy = _get(body, "namePolicy", str, "")
    if name_policy not in NAME_POLICIES:
        raise BadManifest(f"namePolicy must be one of {', '.join(NAME_POLICIES)}")
    checks = AudioChecks.from_json(_get(body, "audioChecks", dict, ""))
    shards = tuple(
        _shard_from_json(item, dataset_id, chunk_size, name_policy)
        for item in _get(body, "shards", list, "")
    )
    if not shards:
        raise BadManifest("shards is empty")
    _check_unique([s.id for s in shards], "shard id")
    _check_unique([str(s.output_path()).casefold() for s in shards], "output path")
    return Manifest(dataset_id, created_at, chunk_size, kek, name_policy, checks, shards, version)


def _shard_from_json(item: Any, dataset_id: str, chunk_size: int, name_policy: str) -> ShardEntry:
    if not isinstance(item, dict):
        raise BadManifest("a shard is not an object")
    fields = {"id", "plaintextSize", "chunks", "ciphertextSize", "digest", "wrappedDek", "audio"}
    _only(item, fields | {"sourcePath"}, "shard: ")
    shard_id = check_shard_id(_get(item, "id", str, "shard."))
    where = f"shard {shard_id}: "
    size = _get_int(item, "plaintextSize", where)
    chunks = _get_int(item, "chunks", where)
    total = _get_int(item, "ciphertextSize", where)
    if chunks != chunk_count(size, chunk_size):
        raise BadManifest(f"{where}{chunks} chunks cannot hold {size} bytes")
    if total != ciphertext_size(len(shard_header(dataset_id, shard_id)), size, chunk_size):
        raise BadManifest(f"{where}ciphertextSize {total} does not match its plaintext size")
    digest = check_digest(_get(item, "digest", str, where), where)
    try:
        wrapped = base64.b64decode(_get(item, "wrappedDek", str, where), validate=True)
    except binascii.Error:
        raise BadManifest(f"{where}wrappedDek is not base64") from None
    if len(wrapped) != WRAPPED_DEK_SIZE:
        raise BadManifest(f"{where}wrappedDek is not {WRAPPED_DEK_SIZE} bytes")
    source = item.get("sourcePath")
    if (name_policy == "relative-path") != (source is not None):
        raise BadManifest(
            f"{where}sourcePath must be present exactly under namePolicy relative-path"
        )
    if source is not None:
        check_relative_path(source, where)
    audio = AudioInfo.from_json(item.get("audio"))
    return ShardEntry(shard_id, size, chunks, total, digest, wrapped, audio, source)


def check_relative_path(path: Any, where: str = "") -> str:
    """A plain relative path that stays inside the output directory, whatever the platform."""
    if not isinstance(path, str) or not 0 < len(path) <= 4096:
        raise BadManifest(f"{where}sourcePath is not a string of 1..4096 characters")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\\" in path or "\x00" in path:
        raise BadManifest(f"{where}sourcePath {path!r} is not a plain relative path")
    if any(ord(ch) < 0x20 for ch in path):
        raise BadManifest(f"{where}sourcePath contains control characters")
    return path


def _check_unique(values: list[str], label: str) -> None:
    if len(set(values)) != len(values):
        raise BadManifest(f"two shards have the same {label}")
