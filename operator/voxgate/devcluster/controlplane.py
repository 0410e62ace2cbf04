"""The local control plane: etcd and kube-apiserver (and optionally kube-controller-manager).

Flags follow controller-runtime's envtest (pkg/internal/testing/controlplane), plus what voxgate
needs from a real cluster: a service-account issuer and signing key, so TokenRequest and
TokenReview work for the key broker; RBAC authorization, so permission tests mean something; and a
client CA, so tests can act as any user and groups with a client certificate.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from voxgate.devcluster import pki
from voxgate.devcluster.binaries import resolve_binary
from voxgate.devcluster.processes import Component, free_port, http_ok, https_ok, pid_runs

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

STATE_FILE = "state.json"
# Marks a directory as ours, so a mistyped --state-dir never gets wiped.
MARKER_FILE = ".voxgate-dev-state"
READY_TIMEOUT_SECONDS = 60.0
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
# The controllers tests need: Jobs create Pods, owner references cascade, namespaces get a
# default ServiceAccount, deleted namespaces go away.
CONTROLLERS = (
    "job-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "namespace-controller",
)
# With audit_log: who wrote what (metadata only, never bodies), so a run can show which identity
# each component acted as. Reads are left out: they are most of the traffic and change nothing.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "Metadata"},
    ],
}


class ControlPlaneError(RuntimeError):
    """The control plane did not start, or a call against it failed."""


class KubectlError(ControlPlaneError):
    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class UserCredentials:
    """A client certificate for one identity, and a kubeconfig that uses it."""

    username: str
    groups: tuple[str, ...]
    cert_path: Path
    key_path: Path
    kubeconfig: Path


@dataclass
class ControlPlane:
    state_dir: Path
    with_controller_manager: bool = False
    supervised: bool = True
    audit_log: bool = False
    server: str = ""
    etcd_url: str = ""
    startup_seconds: float = 0.0
    components: list[Component] = field(default_factory=list)
    # Other processes of a test run (the operator, OPA) whose logs a failing test should show.
    extra_logs: list[Component] = field(default_factory=list)

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.pki_dir / "server-ca.crt"

    @property
    def audit_log_path(self) -> Path:
        """The API server's audit log (JSON lines), written when audit_log is set."""
        return self.state_dir / "logs" / "kube-apiserver-audit.log"

    @property
    def service_account_issuer(self) -> str:
        return self.server

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> float:
        """Start every component and wait until the API server is ready; returns seconds taken."""
        begin = time.monotonic()
        self._reset_state_dir()
        self._make_pki()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig(self.kubeconfig, "admin")
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - begin
        self._save_state()
        return self.startup_seconds

    def stop(self) -> None:
        for component in reversed(self.components):
            with contextlib.suppress(ProcessLookupError):
                component.stop()
        self.components.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / STATE_FILE).unlink()

    def adopt(self, components: list[Component]) -> None:
        """Make processes started beside the plane (OPA, the operator) part of it, so that
        `voxgate dev down` stops them too."""
        self.components.extend(components)
        self._save_state()

    def running(self) -> bool:
        return bool(self.components) and all(c.exit_code() is None for c in self.components)

    @classmethod
    def attach(cls, state_dir: Path) -> ControlPlane:
        """The control plane a `voxgate dev up` left running in `state_dir`."""
        try:
            state = json.loads((state_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            raise ControlPlaneError(
                f"no control plane state in {state_dir}; start one with `voxgate dev up`"
            ) from None
        plane = cls(
            state_dir=state_dir,
            with_controller_manager=state["withControllerManager"],
            supervised=False,
            audit_log=state.get("auditLog", False),
            server=state["server"],
            etcd_url=state["etcd"],
            startup_seconds=state["startupSeconds"],
        )
        plane.components = [
            Component(c["name"], c["argv"], Path(c["log"]), pid=c["pid"])
            for c in state["components"]
        ]
        return plane

    def _save_state(self) -> None:
        state = {
            "server": self.server,
            "etcd": self.etcd_url,
            "withControllerManager": self.with_controller_manager,
            "auditLog": self.audit_log,
            "startupSeconds": round(self.startup_seconds, 3),
            "kubeconfig": str(self.kubeconfig),
            "components": [
                {"name": c.name, "pid": c.pid, "argv": c.argv, "log": str(c.log_path)}
                for c in self.components
            ],
        }
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    # -- identities ------------------------------------------------------------------------

    def user(self, username: str, groups: tuple[str, ...] | list[str] = ()) -> UserCredentials:
        """Credentials for `username` in `groups`, authenticated by a client certificate."""
        stem = "user-" + "".join(ch if ch.isalnum() else "-" for ch in username)
        client_ca = pki.load_ca(
            pki.KeyPair(self.pki_dir / "client-ca.crt", self.pki_dir / "client-ca.key")
        )
        pair = client_ca.issue(self.pki_dir, stem, username, tuple(groups), client=True)
        kubeconfig = self.state_dir / f"kubeconfig-{stem}"
        self._write_kubeconfig(kubeconfig, stem)
        return UserCredentials(username, tuple(groups), pair.cert_path, pair.key_path, kubeconfig)

    # -- clients ---------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        user: UserCredentials | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        kubeconfig = user.kubeconfig if user else self.kubeconfig
        argv = [str(resolve_binary("kubectl")), f"--kubeconfig={kubeconfig}", *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(list(args), result.returncode, result.stderr)
        return result

    def api_client(self, user: UserCredentials | None = None) -> ApiClient:
        from kubernetes import config  # noqa: PLC0415 - keeps `voxgate dev` start-up light

        kubeconfig = user.kubeconfig if user else self.kubeconfig
        client: ApiClient = config.new_client_from_config(config_file=str(kubeconfig))
        return client

    def logs(self, lines: int = 40) -> dict[str, str]:
        return {c.name: c.log_tail(lines) for c in [*self.components, *self.extra_logs]}

    # -- internals -------------------------------------------------------------------------

    def _reset_state_dir(self) -> None:
        if self.state_dir.exists() and any(self.state_dir.iterdir()):
            if not (self.state_dir / MARKER_FILE).exists():
                raise ControlPlaneError(
                    f"{self.state_dir} is not empty and was not made by voxgate; choose another"
                )
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / MARKER_FILE).touch()

    def _make_pki(self) -> None:
        server_ca = pki.new_ca(self.pki_dir, "server-ca", "voxgate-dev-server-ca")
        server_ca.issue(
            self.pki_dir,
            "apiserver",
            "kube-apiserver",
            server_names=("127.0.0.1", "localhost", "kubernetes.default.svc"),
        )
        client_ca = pki.new_ca(self.pki_dir, "client-ca", "voxgate-dev-client-ca")
        client_ca.issue(
            self.pki_dir, "admin", "voxgate-dev-admin", ("system:masters",), client=True
        )
        pki.new_signing_key(self.pki_dir, "service-account")

    def _start_etcd(self) -> None:
        client_port, peer_port = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        argv = [
            str(resolve_binary("etcd")),
            "--name=voxgate-dev",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=voxgate-dev={peer_url}",
            # A throwaway store: durability buys nothing and fsync dominates latency.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
        component = self._launch("etcd", argv)
        self._wait(component, lambda: http_ok(f"{self.etcd_url}/health"))

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        p = self.pki_dir
        argv = [
            str(resolve_binary("kube-apiserver")),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={p}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'client-ca.crt'}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={p / 'service-account.pub'}",
            f"--service-account-signing-key-file={p / 'service-account.key'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]
        if self.audit_log:
            policy = self.state_dir / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump(AUDIT_POLICY))
            self.audit_log_path.parent.mkdir(parents=True, exist_ok=True)
            argv += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-format=json",
            ]
        if not self.with_controller_manager:
            # Without the service-account controller no namespace has a `default` account, and
            # this plugin would refuse every Pod that does not name an existing one.
            argv.append("--disable-admission-plugins=ServiceAccount")
        component = self._launch("kube-apiserver", argv)
        context = self._admin_tls()
        self._wait(component, lambda: https_ok(self.server + "/readyz", context))

    def _start_controller_manager(self) -> None:
        port = free_port()
        argv = [
            str(resolve_binary("kube-controller-manager")),
            f"--kubeconfig={self.kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.pki_dir / 'controller-manager'}",
            f"--root-ca-file={self.ca_path}",
            f"--service-account-private-key-file={self.pki_dir / 'service-account.key'}",
            "--use-service-account-credentials=false",
            "--v=1",
        ]
        component = self._launch("kube-controller-manager", argv)
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # loopback health probe of our own child process
        self._wait(component, lambda: https_ok(f"https://127.0.0.1:{port}/healthz", insecure))

    def _launch(self, name: str, argv: list[str]) -> Component:
        component = Component(name, argv, self.state_dir / "logs" / f"{name}.log")
        component.start(supervised=self.supervised)
        self.components.append(component)
        return component

    def _wait(self, component: Component, ready: Any) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            code = component.exit_code()
            if code is not None:
                raise ControlPlaneError(
                    f"{component.name} exited with code {code} during start-up; "
                    f"last log lines:\n{component.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"{component.name} not ready after {READY_TIMEOUT_SECONDS:.0f}s; "
            f"last log lines:\n{component.log_tail()}"
        )

    def _admin_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        context.load_cert_chain(self.pki_dir / "admin.crt", self.pki_dir / "admin.key")
        return context

    def _write_kubeconfig(self, path: Path, stem: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "voxgate-dev",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_path)},
                }
            ],
            "users": [
                {
                    "name": stem,
                    "user": {
                        "client-certificate": str(self.pki_dir / f"{stem}.crt"),
                        "client-key": str(self.pki_dir / f"{stem}.key"),
                    },
                }
            ],
            "contexts": [
                {"name": "voxgate-dev", "context": {"cluster": "voxgate-dev", "user": stem}}
            ],
            "current-context": "voxgate-dev",
        }
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))


__all__ = ["ControlPlane", "ControlPlaneError", "KubectlError", "UserCredentials", "pid_runs"]
