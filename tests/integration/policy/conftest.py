from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from voxgate.devcluster.opa import OpaServer


@pytest.fixture
def opa_with_policy(tmp_path: Path) -> Iterator[Callable[[str], OpaServer]]:
    """Start a real OPA server with the given Rego as its only policy (for failure modes)."""
    servers: list[OpaServer] = []

    def start(rego: str) -> OpaServer:
        policy_dir = tmp_path / f"policy-{len(servers)}"
        policy_dir.mkdir()
        (policy_dir / "policy.rego").write_text(rego)
        server = OpaServer(policy_dir, tmp_path / f"opa-{len(servers)}")
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
