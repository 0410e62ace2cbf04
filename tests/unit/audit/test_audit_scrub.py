"""Secrets never reach the trail: planted credentials are redacted, unsafe details refused."""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path

import pytest

from voxgate.audit import (
    REDACTED,
    AuditTrail,
    Subject,
    UnsafeDetails,
    looks_like_secret,
    scrub_details,
    verify_file,
)

JOB = Subject("TrainingJob", "team-a", "asr-small", "5b0e7c9e-4a0c-4f49-9b8e-2f0f3b1f6a01")

# Planted markers: a (fake) service-account JWT, a 32-byte key in base64 and base64url, a hex
# key, a PEM private key and a bearer header. None of them may ever appear in a trail file.
FAKE_JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InZveGdhdGUtdGVzdCJ9"
    ".eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbS1hOmFzci10cmFpbmVyIn0"
    ".c2lnbmF0dXJlLW5vdC1yZWFsLWJ1dC1wbGFudGVkLWZvci10aGUtdGVzdA"
)
KEY_BYTES = random.Random(7).randbytes(32)  # noqa: S311 - a reproducible fake key
KEY_B64 = base64.b64encode(KEY_BYTES).decode()
KEY_B64URL = base64.urlsafe_b64encode(KEY_BYTES).decode().rstrip("=")
KEY_HEX = KEY_BYTES.hex()
PEM = (
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPlantedPlantedPlanted\n"
    "-----END PRIVATE KEY-----"
)
BEARER = "Bearer sk-planted-0123456789abcdefXYZ"
MARKERS = {
    "jwt": FAKE_JWT,
    "jwt header": "eyJhbGciOi",
    "base64 key": KEY_B64,
    "base64url key": KEY_B64URL,
    "hex key": KEY_HEX,
    "pem": "MC4CAQAwBQYDK2VwBCIEIPlantedPlantedPlanted",
    "bearer": "sk-planted-0123456789abcdefXYZ",
}


def test_planted_markers_never_reach_the_file_or_the_mirror(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    mirror = io.StringIO()
    with AuditTrail(path, mirror=mirror) as trail:
        trail.record(
            "credentials.refused",
            f"system:serviceaccount:team-a:x {FAKE_JWT}",
            Subject("ServiceAccount", "team-a", f"sa-{KEY_B64URL}", KEY_HEX),
            {
                "message": f"token {FAKE_JWT} rejected; header eyJhbGciOi seen",
                "reason": f"client sent {BEARER}",
                "error": f"key {KEY_B64} / {KEY_HEX}",
                "denials": [{"code": "X", "message": PEM}],
                "obligations": {"nested": {"deeper": [KEY_B64URL]}},
            },
        )
    written = path.read_bytes().decode()
    for name, marker in MARKERS.items():
        assert marker not in written, f"{name} leaked into the trail"
        assert marker not in mirror.getvalue(), f"{name} leaked into the mirror"
    assert REDACTED in written
    assert '"redacted":7' in written  # the details say how much was removed from them
    assert verify_file(path).intact  # redaction happens before chaining


def test_details_outside_the_allow_list_are_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path) as trail:
        for details in (
            {"token": "x"},
            {"dek": "x"},
            {"password": "x", "reason": "ok"},
            {"redacted": 0},
        ):
            with pytest.raises(UnsafeDetails, match="allow-list"):
                trail.record("credentials.released", "broker", JOB, details)
    assert path.read_bytes() == b""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (KEY_BYTES, "raw bytes"),
        (bytearray(KEY_BYTES), "raw bytes"),
        (float("inf"), "NaN or Infinity"),
        (object(), "plain JSON"),
        ({1: "x"}, "non-string key"),
    ],
)
def test_unsafe_value_types_are_refused(value: object, message: str) -> None:
    with pytest.raises(UnsafeDetails, match=message):
        scrub_details({"error": value})
    with pytest.raises(UnsafeDetails, match=message):
        scrub_details({"obligations": {"inner": [value]}})


def test_evidence_that_looks_technical_is_kept() -> None:
    details = {
        "decisionId": "e827d32ddffb46bcb81b2a3142c4c5a5",
        "jobUid": "7327ca25-f339-4a56-ba1a-46b1dcaebc29",
        "policyRevision": "sha256:" + "ab12" * 16,
        "image": "registry.example.com/asr/trainer@sha256:" + "cd34" * 16,
        "codes": ["DeltaExceedsDatasetBudget", "InstitutionNotConsented"],
        "message": "invalid input at /dataset/spec/derivedFrom/0/transformation",
        "serviceAccount": "system:serviceaccount:team-a:speech-dataset-2024-callcentre-v12",
        "dataset": "stewards/callcentre-en-gb-2024",
        "epsilon": 1.2345,
        "delta": 1e-05,
        "allowed": False,
        "kekRef": "secret:voxgate-system/speech",
        "expiresAt": "2026-05-01T12:10:00Z",
    }
    assert scrub_details(details) == details


def test_values_are_truncated_and_redactions_counted() -> None:
    scrubbed = scrub_details({"message": "x" * 5000, "error": FAKE_JWT, "reason": KEY_B64})
    assert len(scrubbed["message"]) < 2100 and scrubbed["message"].endswith("[truncated]")
    assert scrubbed["error"] == REDACTED and scrubbed["reason"] == REDACTED
    assert scrubbed["redacted"] == 2


def test_many_random_keys_are_recognised() -> None:
    rng = random.Random(2026)  # noqa: S311 - reproducible fake keys
    for _ in range(500):
        key = rng.randbytes(32)
        for text in (
            base64.b64encode(key).decode(),
            base64.urlsafe_b64encode(key).decode().rstrip("="),
            key.hex(),
        ):
            assert looks_like_secret(text), text


def test_oversized_details_keep_their_short_values_and_say_so() -> None:
    denials = [{"code": f"Code{n}", "message": "m" * 2000} for n in range(30)]
    scrubbed = scrub_details({"decisionId": "d-1", "codes": ["A", "B"], "denials": denials})
    assert scrubbed["decisionId"] == "d-1" and scrubbed["codes"] == ["A", "B"]
    assert "denials" not in scrubbed
    assert scrubbed["truncatedFrom"] > 32 * 1024


def test_an_unknown_key_is_not_echoed_if_it_looks_like_a_secret() -> None:
    with pytest.raises(UnsafeDetails) as info:
        scrub_details({FAKE_JWT: 1})
    assert "eyJ" not in str(info.value) and REDACTED in str(info.value)
