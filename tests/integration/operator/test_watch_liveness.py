"""The liveness probe fails when the operator's watches go silent, and recovers when they speak.

The operator reaches its API server through a TCP relay on loopback that the test can freeze:
every open connection stays open but no byte moves, the way a connection dropped by a middlebox
looks to a client that never notices. Short heartbeat timings keep the test quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import free_port, http_json

if TYPE_CHECKING:
    from tests.integration.operator.conftest import OperatorStarter

pytestmark = pytest.mark.integration

FAST_HEARTBEAT = {
    "VOXGATE_WATCH_HEARTBEAT_SECONDS": "1",
    "VOXGATE_WATCH_SILENCE_SECONDS": "4",
    # The only operator on its plane; without an election nothing exits when the Lease cannot
    # be renewed during the freeze, so what fails is the probe, which is what this test is about.
    "VOXGATE_LEADER_ELECTION": "false",
}


class FreezableRelay:
    """A TCP relay 127.0.0.1:<port> -> target whose traffic can be stopped without closing."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(timeout=10)
        self.thaw()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._flowing.wait()
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
            return_exceptions=True,
        )

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                await self._flowing.wait()  # frozen: hold the bytes, keep the connection
                sink.write(chunk)
                await sink.drain()
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    def freeze(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.set)

    def stop(self) -> None:
        self.thaw()
        self.loop.call_soon_threadsafe(self._server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def kubeconfig_through(plane: ControlPlane, relay: FreezableRelay, path: Path) -> Path:
    config = yaml.safe_load(plane.kubeconfig.read_text())
    for cluster in config["clusters"]:
        # The serving certificate names 127.0.0.1, so TLS through the relay verifies as before.
        cluster["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for_health(url: str, wanted: int, timeout: float) -> tuple[int, Any]:
    deadline = time.monotonic() + timeout
    status, body = http_json(url)
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = http_json(url)
    return status, body


def test_silent_watches_fail_the_liveness_probe_until_they_speak_again(
    isolated_plane: ControlPlane,
    policy_server: OpaServer,
    start_operator: OperatorStarter,
    tmp_path: Path,
) -> None:
    server = urlsplit(
        yaml.safe_load(isolated_plane.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    )
    assert server.hostname is not None and server.port is not None
    relay = FreezableRelay(server.hostname, server.port)
    relay.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    env = {
        **FAST_HEARTBEAT,
        "KUBECONFIG": str(kubeconfig_through(isolated_plane, relay, tmp_path / "kubeconfig")),
    }
    operator = start_operator(
        isolated_plane,
        policy_server,
        tmp_path,
        0,
        replica="voxgate-0",
        extra_env=env,
        liveness_port=port,
    )
    try:
        # Healthy: both kopf operators (front and, without an election, the reconcilers) have
        # seen a beat come back recently.
        deadline = time.monotonic() + 30
        watches: dict[str, float] = {}
        while time.monotonic() < deadline:
            status, body = http_json(url)
            watches = (body or {}).get("watches") or {}
            if (
                status == 200
                and set(watches) == {"front", "reconcilers"}
                and max(watches.values()) < 3
            ):
                break
            time.sleep(0.5)
        assert set(watches) == {"front", "reconcilers"}, (status, body, operator.log_tail())
        assert max(watches.values()) < 3, watches
        beat = isolated_plane.kubectl(
            "get", "operatorheartbeats", "voxgate-0", "-n", "voxgate-system", "-o", "json"
        )
        assert json.loads(beat.stdout)["spec"]["intervalSeconds"] == 1

        relay.freeze()
        # kopf re-runs a successful probe at most every 10 s; the silence limit is 4 s.
        status, _ = wait_for_health(url, 500, timeout=40)
        assert status == 500, operator.log_tail()
        assert "watches are silent" in operator.log_path.read_text()
        assert operator.exit_code() is None  # the probe fails; Kubernetes decides to restart

        relay.thaw()
        status, body = wait_for_health(url, 200, timeout=60)
        assert status == 200, operator.log_tail()
        assert max(body["watches"].values()) < 4, body
    finally:
        operator.stop()
        relay.stop()
