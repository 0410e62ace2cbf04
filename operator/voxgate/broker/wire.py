"""The broker's JSON messages, shared by the server and the client (standard library only).

    POST /v1/keys   Authorization: Bearer <projected ServiceAccount token>
    {"dataset": "NS/NAME",            the SpeechDataset the job was admitted for
     "datasetId": "NAME" | "NS/NAME", the manifest's dataset id (bound into every wrapped key)
     "manifestDigest": "sha256:<hex>",
     "kekId": "NAME", "kekVersion": N,
     "wrappedKeys": [{"shard": "<32 hex>", "wrapped": "<base64, 60 bytes>"}, ...]}

    200 {"keys": [{"shard": "<32 hex>", "dek": "<base64, 32 bytes>"}, ...]}
    4xx/5xx {"reason": "CamelCaseCode", "message": "one line"}

This is exactly what `voxgate.sealed.dek.DekRequest` carries, plus which SpeechDataset it is for.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.broker.views import BadObjectRef, ObjectRef
from voxgate.keys.model import KekRef, wipe
from voxgate.sealed.dek import DekRequest, WrappedDek
from voxgate.sealed.errors import SealError
from voxgate.sealed.format import KEY_SIZE, WRAPPED_DEK_SIZE, check_dataset_id, check_shard_id

KEYS_PATH = "/v1/keys"
HEALTH_PATH = "/healthz"
# A manifest lists one wrapped key per file; this bounds a request to about 15 MB of JSON.
MAX_SHARDS = 100_000
MAX_BODY_BYTES = 16 << 20

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_KEK_ID = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_REQUEST_FIELDS = {"dataset", "datasetId", "manifestDigest", "kekId", "kekVersion", "wrappedKeys"}


class BadKeyRequest(ValueError):
    """A key request (or response) does not have the documented shape."""


@dataclass(frozen=True)
class KeyRequest:
    dataset: ObjectRef
    dataset_id: str
    manifest_digest: str
    kek: KekRef
    shards: tuple[WrappedDek, ...]

    @classmethod
    def for_dek_request(cls, dataset: ObjectRef, request: DekRequest) -> KeyRequest:
        return cls(
            dataset, request.dataset_id, request.manifest_digest, request.kek, request.shards
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset),
            "datasetId": self.dataset_id,
            "manifestDigest": self.manifest_digest,
            "kekId": self.kek.id,
            "kekVersion": self.kek.version,
            "wrappedKeys": [
                {"shard": s.shard_id, "wrapped": base64.b64encode(s.wrapped).decode("ascii")}
                for s in self.shards
            ],
        }

    @classmethod
    def from_json(cls, document: Any) -> KeyRequest:
        if not isinstance(document, Mapping):
            raise BadKeyRequest("the body is not a JSON object")
        unknown = set(document) - _REQUEST_FIELDS
        if unknown:
            raise BadKeyRequest(f"unknown fields {sorted(unknown)}")
        try:
            dataset = ObjectRef.parse(_string(document, "dataset"))
            dataset_id = check_dataset_id(_string(document, "datasetId"))
        except (BadObjectRef, SealError) as error:
            raise BadKeyRequest(str(error)) from None
        digest = _string(document, "manifestDigest")
        if not _DIGEST.fullmatch(digest):
            raise BadKeyRequest("manifestDigest is not sha256:<64 lowercase hex>")
        kek_id = _string(document, "kekId")
        if not _KEK_ID.fullmatch(kek_id):
            raise BadKeyRequest("kekId is not a DNS label")
        version = document.get("kekVersion")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**32:
            raise BadKeyRequest("kekVersion is not an integer in 1..2^32-1")
        shards = _wrapped_keys(document.get("wrappedKeys"))
        return cls(dataset, dataset_id, digest, KekRef(kek_id, version), shards)


def keys_to_json(deks: Mapping[str, bytearray]) -> dict[str, Any]:
    return {
        "keys": [
            {"shard": shard, "dek": base64.b64encode(dek).decode("ascii")}
            for shard, dek in sorted(deks.items())
        ]
    }


def keys_from_json(document: Any, expected: set[str]) -> dict[str, bytearray]:
    """The DEKs of a 200 answer: exactly one 32-byte key per shard that was asked for."""
    items = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        raise BadKeyRequest("the answer has no list of keys")
    deks: dict[str, bytearray] = {}
    try:
        for item in items:
            shard = _string(item, "shard") if isinstance(item, Mapping) else ""
            if shard not in expected or shard in deks:
                raise BadKeyRequest("the answer holds a key for a shard that was not asked for")
            dek = bytearray(_base64(_string(item, "dek"), "dek"))
            deks[shard] = dek
            if len(dek) != KEY_SIZE:
                raise BadKeyRequest(f"the answer's key for shard {shard} is not {KEY_SIZE} bytes")
        if set(deks) != expected:
            raise BadKeyRequest(f"the answer lacks keys for {len(expected - set(deks))} shards")
    except BaseException:
        for dek in deks.values():
            wipe(dek)
        raise
    return deks


def refusal_to_json(reason: str, message: str) -> dict[str, str]:
    return {"reason": reason, "message": message}


def refusal_from_json(document: Any) -> tuple[str, str] | None:
    """(reason, message) of an error answer, or None when it is not one of ours."""
    if not isinstance(document, Mapping):
        return None
    reason, message = document.get("reason"), document.get("message")
    if not isinstance(reason, str) or not re.fullmatch(r"[A-Za-z]{1,64}", reason):
        return None
    text = message if isinstance(message, str) else ""
    # Shown to a user on one line: no control characters, bounded length.
    return reason, re.sub(r"[\x00-\x1f\x7f]", " ", text)[:300]


def _wrapped_keys(value: Any) -> tuple[WrappedDek, ...]:
    if not isinstance(value, list) or not value:
        raise BadKeyRequest("wrappedKeys is not a non-empty list")
    if len(value) > MAX_SHARDS:
        raise BadKeyRequest(f"wrappedKeys holds more than {MAX_SHARDS} keys")
    seen: set[str] = set()
    shards = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"shard", "wrapped"}:
            raise BadKeyRequest("each wrappedKeys entry is {shard, wrapped}")
        try:
            shard = check_shard_id(_string(item, "shard"))
        except SealError as error:
            raise BadKeyRequest(str(error)) from None
        if shard in seen:
            raise BadKeyRequest(f"shard {shard} is listed twice")
        seen.add(shard)
        wrapped = _base64(_string(item, "wrapped"), "wrapped")
        if len(wrapped) != WRAPPED_DEK_SIZE:
            raise BadKeyRequest(f"the wrapped key of shard {shard} is not {WRAPPED_DEK_SIZE} bytes")
        shards.append(WrappedDek(shard, wrapped))
    return tuple(shards)


def _string(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise BadKeyRequest(f"{key} is missing or not a string")
    return value


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadKeyRequest(f"{what} is not base64") from None
