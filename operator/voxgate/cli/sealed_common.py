"""Helpers shared by `voxgate seal`, `voxgate unseal` and `voxgate keys` (not a command group)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from voxgate.cli.errors import UsageError
from voxgate.keys.errors import KeyStoreError
from voxgate.keys.provider import KekProvider
from voxgate.keys.ref import open_store, parse_kek_ref
from voxgate.sealed.errors import SealError
from voxgate.sealed.signing import load_public_key, load_signing_key

SIGNING_KEY_ENV = "VOXGATE_SIGNING_KEY"
PUBLIC_KEY_ENV = "VOXGATE_SIGNING_PUBLIC_KEY"
_SIZE = re.compile(r"^(\d+)\s*(b|k|kb|kib|m|mb|mib)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20}
_DECIMAL_UNITS = {"kb": 1000, "mb": 1000_000}


@contextlib.contextmanager
def sealed_errors_as_usage() -> Iterator[None]:
    """Sealing and key-store errors already read as one line naming the problem; show them so."""
    try:
        yield
    except (SealError, KeyStoreError) as error:
        raise UsageError(str(error)) from None


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_size(text: str) -> int:
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise UsageError(f"size {text!r} is not a number with an optional unit (e.g. 1MiB, 256KiB)")
    unit = (match.group(2) or "").lower()
    factor = _DECIMAL_UNITS.get(unit) or _UNITS[unit]
    return int(match.group(1)) * factor


def kek_location(text: str) -> tuple[str, KekProvider]:
    """The KEK name and its store, from file:KEYRING#NAME or secret:NAMESPACE/NAME."""
    location = parse_kek_ref(text, need_name=True)
    if location.kek_id is None:
        raise UsageError(f"{text!r} names no KEK")
    return location.kek_id, open_store(location.store)


def kek_store(text: str) -> KekProvider:
    """Just the store, from file:KEYRING or secret:NAMESPACE (a KEK name there is ignored)."""
    return open_store(parse_kek_ref(text, need_name=False).store)


def signing_key_arg(path: str | None) -> Ed25519PrivateKey:
    chosen = path or os.environ.get(SIGNING_KEY_ENV)
    if not chosen:
        raise UsageError(
            f"no signing key: pass --signing-key FILE or set {SIGNING_KEY_ENV} "
            "(make one with: voxgate keys signing-key --out FILE)"
        )
    return load_signing_key(Path(chosen).expanduser())


def public_key_arg(text: str | None) -> Ed25519PublicKey:
    chosen = text or os.environ.get(PUBLIC_KEY_ENV)
    if not chosen:
        raise UsageError(
            f"no signing public key: pass --public-key BASE64 or set {PUBLIC_KEY_ENV} "
            "(SpeechDataset.spec.encryption.signingPublicKey)"
        )
    return load_public_key(chosen)
