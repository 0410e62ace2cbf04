"""Keeping secrets out of audit records: an allow-list of detail keys and a redactor for values.

Two guards, because they catch different mistakes:
- Keys: a record's details may only use the keys in DETAIL_KEYS (or the caller's own allow-list).
  A key like "token" or "dek" cannot slip in. Keys and value types are fixed by the calling code,
  so a violation raises UnsafeDetails; the caller's unit tests find it.
- Values: strings that look like credentials (a JWT, a PEM block, a long random base64 or hex
  run) are replaced by "[redacted]" wherever they occur, in details, the actor and the subject.
  Values may come from users (names, messages), so they are redacted rather than refused: a crafted
  value must never be able to suppress the record itself. A record with redactions carries
  `redacted: <count>` in its details so a reader knows something was removed.
Raw bytes are refused outright: they are the usual shape of key material.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

from voxgate.audit.canonical import canonical_json
from voxgate.audit.errors import UnsafeDetails

REDACTED = "[redacted]"
REDACTED_COUNT_KEY = "redacted"
TRUNCATED_KEY = "truncatedFrom"  # the size in bytes the details had before long values were dropped
MAX_STRING = 2048
MAX_DETAILS_BYTES = 32 * 1024
MAX_KEPT_VALUE_BYTES = 512
MAX_DEPTH = 6

# Every key a record's details may carry; what each means is in docs/audit.md.
DETAIL_KEYS = frozenset(
    {
        # decisions
        "allowed",
        "codes",
        "denials",
        "decisionId",
        "decidedAt",  # when the policy answered; the record's own time is when it was written
        "policyRevision",
        "obligations",
        "purpose",
        "tier",
        "dataset",
        "grant",
        "image",
        "requester",
        "source",  # "webhook" or "reconciler"
        # credentials
        "serviceAccount",
        "audience",
        "expiresAt",
        "ttlSeconds",
        "manifestDigest",
        "kekRef",
        "kekVersion",
        "shards",
        # the privacy ledger
        "epsilon",
        "delta",
        "state",
        "previousState",
        "epsilonSpent",
        "epsilonReserved",
        "epsilonRemaining",
        "jobUid",
        # jobs and grants
        "phase",
        "previousPhase",
        "workers",
        "succeeded",
        "failed",
        "startTime",
        "completionTime",
        "revokedBy",
        # anything
        "reason",
        "message",
        "code",
        "error",
        "count",
        "generation",
        "observedGeneration",
    }
)

_JWT = r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}"
_PEM = r"-----BEGIN [A-Z0-9 ]+-----(?:.*?-----END [A-Z0-9 ]+-----|.*)"
_BEARER = r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}"
_AWS_ACCESS_KEY = r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
# Content digests (sha256:<hex>, image@sha256:<hex>) are evidence, not secrets; a bare hex run
# as long as a 256-bit key is treated as one.
_LONG_HEX = r"(?<!sha256:)(?<!sha512:)(?<![0-9A-Za-z])[0-9a-fA-F]{64,}(?![0-9A-Za-z])"
_SECRET = re.compile("|".join((_JWT, _PEM, _BEARER, _AWS_ACCESS_KEY, _LONG_HEX)), re.DOTALL)
# Candidate random-looking runs (base64 or base64url with optional padding); judged below.
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_MIN_B64_RUN = 20
_MIN_UPPER_FRACTION = 0.25
# A path or JSON pointer (/grants/0/spec/validFrom): identifiers and indexes between slashes.
_PATH_SEGMENT = r"(?:[a-z]+(?:[A-Z][a-z]+)*|[0-9]+)"
_PATH = re.compile(rf"^/?(?:{_PATH_SEGMENT}/){{2,}}{_PATH_SEGMENT}?$")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _looks_random(run: str) -> bool:
    """A base64 key of 16+ bytes: 20+ characters mixing upper and lower case, and digits.

    Kubernetes names and UUIDs are lower case and reason codes have no digits, so they pass; hex
    is left to the long-hex rule (digests are hex). A false positive costs a redaction, not a leak.
    """
    body = run.rstrip("=")
    if len(body) < _MIN_B64_RUN or set(body) <= _HEX_DIGITS or _PATH.match(body):
        return False
    if not (any(c.isupper() for c in body) and any(c.islower() for c in body)):
        return False
    # CamelCase words (reason codes) have about one capital in six letters and no digits;
    # random base64 has a capital in every second or third character.
    uppers = sum(c.isupper() for c in body)
    if not any(c.isdigit() for c in body) and uppers < len(body) * _MIN_UPPER_FRACTION:
        return False
    # Identifier-like runs (dashed words) have low character variety; random keys do not.
    return len(set(body)) >= min(16, len(body) * 0.6)


def redact_text(text: str) -> tuple[str, int]:
    """`text` with every credential-looking part replaced by REDACTED, and how many there were."""
    count = 0

    def replace(_match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return REDACTED

    text = _SECRET.sub(replace, text)

    def replace_random(match: re.Match[str]) -> str:
        nonlocal count
        if not _looks_random(match.group(0)):
            return match.group(0)
        count += 1
        return REDACTED

    text = _B64_RUN.sub(replace_random, text)
    if len(text) > MAX_STRING:
        text = text[:MAX_STRING] + "...[truncated]"
    # Invalid UTF-8 (lone surrogates from a badly decoded input) has no canonical form.
    return text.encode("utf-8", "replace").decode("utf-8"), count


def looks_like_secret(text: str) -> bool:
    return redact_text(text)[1] > 0


def scrub_details(
    details: Mapping[str, Any] | None, allowed_keys: frozenset[str] = DETAIL_KEYS
) -> dict[str, Any]:
    """Details safe to record: allow-listed keys, plain JSON values, credentials redacted."""
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise UnsafeDetails(f"details must be a mapping, not {type(details).__name__}")
    # Key names go into the error message, so they are shortened and redacted too.
    unknown = sorted(redact_text(str(key)[:40])[0] for key in details if key not in allowed_keys)
    if unknown:
        raise UnsafeDetails(
            f"details key(s) {', '.join(unknown)} not in the audit allow-list "
            "(add them to voxgate.audit.scrub.DETAIL_KEYS if they can never hold a secret)"
        )
    counter = [0]
    scrubbed = {key: _scrub_value(value, key, counter, 1) for key, value in details.items()}
    # Set here only (neither is in the allow-list), so a reader can trust them.
    if counter[0]:
        scrubbed[REDACTED_COUNT_KEY] = counter[0]
    size = len(canonical_json(scrubbed))
    if size > MAX_DETAILS_BYTES:
        # Long values can come from users (denial messages quote their input); dropping them
        # keeps the record, where refusing would let a user suppress it.
        scrubbed = {
            key: value
            for key, value in scrubbed.items()
            if len(canonical_json(value)) <= MAX_KEPT_VALUE_BYTES
        }
        scrubbed[TRUNCATED_KEY] = size
    return scrubbed


def _scrub_value(value: Any, where: str, counter: list[int], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise UnsafeDetails(f"details[{where}] is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return int(value) if isinstance(value, Enum) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeDetails(f"details[{where}] is {value}: JSON has no NaN or Infinity")
        return value
    if isinstance(value, str):
        text, count = redact_text(str(value))
        counter[0] += count
        return text
    if isinstance(value, bytes | bytearray | memoryview):
        raise UnsafeDetails(
            f"details[{where}] is raw bytes: bytes are never recorded (they may be key material)"
        )
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeDetails(f"details[{where}] has a non-string key")
            safe_key, count = redact_text(key)
            if count:
                counter[0] += count
                safe_key = f"{REDACTED}#{counter[0]}"
            result[safe_key] = _scrub_value(item, f"{where}.{safe_key}", counter, depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [
            _scrub_value(item, f"{where}[{index}]", counter, depth + 1)
            for index, item in enumerate(value)
        ]
    raise UnsafeDetails(
        f"details[{where}] is a {type(value).__name__}; record plain JSON values "
        "(str, int, float, bool, None, lists and mappings of them)"
    )
