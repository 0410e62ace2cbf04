"""Ed25519 signing keys for manifests: a PKCS#8 PEM private key file (0600) and a base64 public key.

The base64 public key (32 raw bytes) is what SpeechDataset.spec.encryption.signingPublicKey holds.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from voxgate.sealed.errors import BadSigningKey, OutputConflict
from voxgate.sealed.manifest import public_key_b64


def generate_signing_key(path: Path) -> str:
    """Write a new private key to `path` (refusing to overwrite) and `path`.pub; return the
    base64 public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OutputConflict(
            f"{path} already exists; refusing to overwrite a signing key"
        ) from None
    except OSError as error:
        raise BadSigningKey(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = public_key_b64(key.public_key())
    path.with_name(path.name + ".pub").write_text(public + "\n", encoding="ascii")
    return public


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as error:
        raise BadSigningKey(f"cannot read signing key {path}: {error.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise BadSigningKey(
            f"signing key {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"
        )
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise BadSigningKey(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadSigningKey(f"{path} is not an Ed25519 key")
    return key


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse the base64 of a raw 32-byte Ed25519 public key."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadSigningKey("signing public key is not base64") from None
    if len(raw) != 32:
        raise BadSigningKey(f"signing public key is {len(raw)} bytes, an Ed25519 key is 32")
    return Ed25519PublicKey.from_public_bytes(raw)
