"""Server-side applies reuse the pool's connections instead of opening one each.

KubeGateway.apply skips parsing the answer; it once skipped reading it too, which kept every
connection out of the pool: a TLS handshake per child, half the operator's CPU in a burst.
"""

from __future__ import annotations

import pytest

from voxgate.devcluster import ControlPlane
from voxgate.reconcile.kube import KubeGateway

pytestmark = pytest.mark.integration

APPLIES = 30


def test_applies_share_a_pooled_connection(control_plane: ControlPlane) -> None:
    api = control_plane.api_client()
    gateway = KubeGateway(api)
    for index in range(APPLIES):
        gateway.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"connection-reuse-{index}", "namespace": "default"},
                "data": {"index": str(index)},
            }
        )
    pools = api.rest_client.pool_manager.pools
    # keys(), not iteration: urllib3's RecentlyUsedContainer raises NotImplementedError on iter().
    opened = sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118
    assert 1 <= opened <= 2, f"{APPLIES} applies opened {opened} connections"
