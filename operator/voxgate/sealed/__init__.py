"""The sealed-data format: chunked AES-256-GCM shards, wrapped data keys and a signed manifest.

Deliberately import-free so that `voxgate.keys` can use `voxgate.sealed.errors` without cycles.
The byte layout is specified in docs/sealed-format.md.
"""
