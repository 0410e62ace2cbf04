"""Key-encryption keys (KEKs): versioned, behind the `KekProvider` protocol (docs/keys.md)."""
