"""Canonical JSON and the digest over it: the byte form every audit digest is computed from.

Canonical means: keys sorted by code point, no whitespace, UTF-8 (no \\u escapes for non-ASCII),
no NaN or Infinity. Numbers are written the way Python's json module writes them (the shortest
form that reads back to the same float), so parsing a line and re-encoding it gives back the same
bytes; a verifier in another language must reproduce that.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

DIGEST_PREFIX = "sha256:"
GENESIS_DIGEST = DIGEST_PREFIX + "0" * 64
DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


class NotCanonical(ValueError):
    """A value that has no canonical JSON form (NaN, Infinity, a non-JSON type, bad Unicode)."""


def canonical_json(value: Any) -> bytes:
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError) as error:
        # UnicodeEncodeError (a lone surrogate) is a ValueError too.
        raise NotCanonical(f"no canonical JSON form: {str(error).splitlines()[0]}") from None


def sha256_digest(data: bytes) -> str:
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()
