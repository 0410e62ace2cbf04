"""The digest the signed manifest pins every shard file with: `blake3:<64 lowercase hex>`.

Chunk tags stop anyone without a shard's DEK, but every job granted the dataset holds the DEKs
and could forge chunks with valid tags; only the steward's signature over a collision-resistant
digest of the exact ciphertext stops such a holder. BLAKE3 (256-bit output) gives that at several
times the speed of SHA-256, which decides how fast unseal runs. The algorithm is named in every
digest, and a digest naming any other algorithm is refused rather than skipped (fail closed).
"""

from __future__ import annotations

import re

from blake3 import blake3

from voxgate.sealed.errors import BadManifest

ALGORITHM = "blake3"
_DIGEST = re.compile(r"^([a-z0-9-]{1,32}):(.*)$", re.DOTALL)
_HEX_256 = re.compile(r"^[0-9a-f]{64}$")


def shard_hasher(header: bytes) -> blake3:
    """A running digest of a shard file, started with its header."""
    return blake3(header)


def format_digest(hasher: blake3) -> str:
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def check_digest(text: str, where: str = "") -> str:
    """A manifest digest this voxgate can verify; anything else is a BadManifest."""
    match = _DIGEST.fullmatch(text)
    if match is None:
        raise BadManifest(f"{where}digest is not ALGORITHM:HEX")
    algorithm, value = match.groups()
    if algorithm != ALGORITHM:
        raise BadManifest(
            f"{where}digest algorithm {algorithm!r} is not supported (this voxgate verifies "
            f"{ALGORITHM} only)"
        )
    if not _HEX_256.fullmatch(value):
        raise BadManifest(f"{where}digest is not {ALGORITHM}: and 64 lowercase hex digits")
    return text
