"""kopf's side of the operator talks to the API server through a bounded connection pool.

kopf's own session has no limit: with 256 workers patching at once it opened well over a hundred
TLS connections, whose buffers stayed in the operator's heap after the burst.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import kopf
import pytest
from kubernetes.config import kube_config

from voxgate.devcluster import ControlPlane
from voxgate.handlers.runtime import KOPF_CONNECTIONS, bounded_login

pytestmark = pytest.mark.integration

REQUESTS = 3 * KOPF_CONNECTIONS


def sockets_to(port: int) -> int:
    """Established TCP connections of this process to 127.0.0.1:`port`."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and inode in inodes and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


async def peak_connections(session: aiohttp.ClientSession, server: str) -> int:
    """Fire REQUESTS watches that each hold their connection for a second, all at once; the
    peak of connections opened beyond those the process already had (other clients in this
    process, such as the fixtures', keep theirs)."""
    port = urlsplit(server).port or 443
    before = sockets_to(port)
    peak = 0

    async def hold() -> None:
        url = f"{server}/api/v1/namespaces?watch=1&timeoutSeconds=1"
        async with session.get(url) as response:
            assert response.status == 200
            await response.read()

    async def sample(done: asyncio.Event) -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sockets_to(port))
            await asyncio.sleep(0.02)

    done = asyncio.Event()
    sampler = asyncio.create_task(sample(done))
    await asyncio.gather(*(hold() for _ in range(REQUESTS)))
    done.set()
    await sampler
    return peak - before


def test_kopfs_requests_share_a_bounded_pool(
    control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kopf's login reads the kubeconfig the kubernetes client finds by default (not in-cluster).
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(control_plane.kubeconfig))

    async def scenario() -> tuple[int, int]:
        settings = kopf.OperatorSettings()
        logger = logging.getLogger("test")
        bounded = await bounded_login(logger=logger, settings=settings)
        assert bounded is not None
        info = kopf.login_via_client(logger=logger, settings=settings)
        assert info is not None
        # What kopf itself would build from the same credentials: no limit.
        unbounded = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
            headers=info.as_http_headers(),
        )
        try:
            bounded_peak = await peak_connections(bounded.aiohttp_session, bounded.server)
            await bounded.aiohttp_session.close()  # its idle connections are not the other's
            await asyncio.sleep(0.2)
            return bounded_peak, await peak_connections(unbounded, info.server)
        finally:
            await bounded.aiohttp_session.close()
            await unbounded.close()

    bounded_peak, unbounded_peak = asyncio.run(scenario())
    assert unbounded_peak > KOPF_CONNECTIONS, "the scenario does not load the pool at all"
    assert 1 <= bounded_peak <= KOPF_CONNECTIONS
