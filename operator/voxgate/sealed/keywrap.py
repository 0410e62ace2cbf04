"""Envelope encryption of data keys: AES-256-GCM under the KEK, bound to where the DEK belongs.

wrapped = nonce (12 random bytes) || AES-256-GCM(KEK, nonce, DEK, AAD) (32 + 16 bytes), with
AAD = format.wrap_aad(dataset, shard, KEK id, KEK version). Chosen over AES-KW (RFC 3394)
because AES-KW has no associated data: a wrapped key copied to another shard or dataset would
unwrap fine there. Random nonces are safe while one KEK version wraps far fewer than 2**32 keys.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxgate.keys.model import KekRef
from voxgate.sealed.errors import KeyUnwrapFailed
from voxgate.sealed.format import KEY_SIZE, NONCE_SIZE, WRAPPED_DEK_SIZE, wrap_aad


def wrap_dek(
    kek: bytes | bytearray,
    kek_ref: KekRef,
    dataset_id: str,
    shard_id: str,
    dek: bytes | bytearray,
    *,
    nonce: bytes | None = None,
) -> bytes:
    """Wrap `dek`; `nonce` is for test vectors only, production always draws a random one."""
    if len(dek) != KEY_SIZE:
        raise ValueError("a DEK is 32 bytes")
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    aad = wrap_aad(dataset_id, shard_id, kek_ref.id, kek_ref.version)
    return nonce + AESGCM(kek).encrypt(nonce, dek, aad)


def unwrap_dek(
    kek: bytes | bytearray, kek_ref: KekRef, dataset_id: str, shard_id: str, wrapped: bytes
) -> bytearray:
    if len(wrapped) != WRAPPED_DEK_SIZE:
        raise KeyUnwrapFailed(
            f"wrapped DEK of shard {shard_id} is {len(wrapped)} bytes, not {WRAPPED_DEK_SIZE}"
        )
    aad = wrap_aad(dataset_id, shard_id, kek_ref.id, kek_ref.version)
    try:
        return bytearray(AESGCM(kek).decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], aad))
    except InvalidTag:
        raise KeyUnwrapFailed(
            f"DEK of shard {shard_id} does not unwrap under KEK {kek_ref} for dataset "
            f"{dataset_id!r} (wrong KEK version, or the wrapped key was moved or altered)"
        ) from None
