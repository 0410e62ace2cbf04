"""The key broker: releases a TrainingJob's data keys to its pods, and the client unseal uses.

Server side (`server`, `evidence`, `decision`) runs in the operator process; `client` runs in the
unseal init container and needs only the standard library, so this package imports nothing here.
The protocol, the checks and the failure codes are described in docs/keys.md ("Key broker").
"""
