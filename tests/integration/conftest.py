"""Fixtures that start the real thing: etcd and kube-apiserver on loopback (and OPA, later).

The control plane is started once per test session. Its processes die with the test run even on
a crash (PR_SET_PDEATHSIG), and the tail of every component's log is attached to a failing test's
report.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from voxgate.devcluster import ControlPlane

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"

_planes: list[ControlPlane] = []


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    seconds = plane.start()
    _planes.append(plane)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"control plane ready at {plane.server} in {seconds:.1f}s")
    try:
        yield plane
    finally:
        _planes.remove(plane)
        plane.stop()


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> list[str]:
    """Apply every CRD in crds/ and wait until the API server serves them."""
    control_plane.kubectl(
        "apply", "--server-side", "--field-manager=voxgate-tests", "-f", str(CRD_DIR)
    )
    names = sorted(
        line.split("/", 1)[1]
        for line in control_plane.kubectl("get", "-f", str(CRD_DIR), "-o", "name").stdout.split()
    )
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names]
    )
    return names


@pytest.fixture
def namespace(control_plane: ControlPlane) -> str:
    """A fresh namespace per test (namespaces are not garbage-collected without the controllers)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    api = client.CoreV1Api(control_plane.api_client())
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _planes:
        for plane in _planes:
            for name, tail in plane.logs().items():
                report.sections.append((f"{name} log (last lines)", tail))
    return report


def wait_for(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll `predicate` until it returns something truthy; fail the test on timeout."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
