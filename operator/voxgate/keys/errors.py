"""Errors of the key stores: one-line messages that never contain key material."""

from __future__ import annotations


class KeyStoreError(ValueError):
    """The key store is unreadable, malformed, insecure or refused an operation."""


class UnknownKek(KeyStoreError):
    """The key store has no KEK of that name."""


class UnknownKekVersion(KeyStoreError):
    """The KEK exists but not in that version (never created, or retired)."""


class KekExists(KeyStoreError):
    """A KEK of that name already exists."""


class KekInUse(KeyStoreError):
    """A KEK version cannot be retired: it is the newest, or a manifest still references it."""
