"""The chart's pod, as local processes: OPA and the operator with the chart's identity and settings.

The chart's operator pod runs two containers, OPA (with the chart's copy of the policy bundle)
and the operator (with the VOXGATE_* settings the chart renders). Without a kubelet, LocalRelease
starts the same two programs here, with three local substitutions that a pod would get from the
cluster: the API credentials are a TokenRequest token of the chart's ServiceAccount (never the
admin's), the serving certificate of the webhooks and the broker is issued for 127.0.0.1, and
the ports and paths are free ports and files under the state directory.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from voxgate import API_GROUP, API_VERSION
from voxgate.devcluster import pki
from voxgate.devcluster.chart import (
    CHART_DIR,
    Manifest,
    operator_environment,
    service_account,
    service_account_kubeconfig,
    service_account_username,
    webhook_configurations_at,
)
from voxgate.devcluster.controlplane import ControlPlane, ControlPlaneError, KubectlError
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import Component, free_port, http_ok

READY_TIMEOUT_SECONDS = 60.0
# A dataset nobody creates: the validating webhook refuses a job for it before asking OPA, which
# is how registration is seen to have reached the API server.
PROBE_DATASET = "voxgate-webhook-probe"
# In a pod the kubelet refreshes the projected token; here nothing does, so it is made to outlast
# a working day of `voxgate dev demo --keep`.
TOKEN_SECONDS = 12 * 3600


@dataclass
class LocalRelease:
    plane: ControlPlane
    manifests: list[Manifest]
    state_dir: Path
    supervised: bool = True
    policy_dir: Path = CHART_DIR / "files" / "policies"
    opa: OpaServer | None = None
    operator: Component | None = None
    webhook_port: int = 0
    ca_bundle: bytes = b""
    components: list[Component] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return service_account(self.manifests)[0]

    @property
    def username(self) -> str:
        """The identity the operator acts as: the chart's ServiceAccount."""
        return service_account_username(*service_account(self.manifests))

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "operator.kubeconfig"

    @property
    def audit_path(self) -> Path:
        return self.state_dir / "audit" / "audit.jsonl"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / "operator.log"

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}"

    def start(self) -> float:
        begin = time.monotonic()
        self.opa = OpaServer(self.policy_dir, self.state_dir / "opa", supervised=self.supervised)
        self.opa.start()
        self.components.extend(self.opa.components)
        try:
            self._start_operator(self.opa.url)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - begin

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()
        if self.opa is not None:
            self.opa.stop()
        self.components.clear()

    def _environment(self, opa_url: str) -> dict[str, str]:
        namespace, account = service_account(self.manifests)
        service_account_kubeconfig(
            self.plane, namespace, account, self.kubeconfig, seconds=TOKEN_SECONDS
        )
        tls = self.state_dir / "tls"
        ca = pki.new_ca(tls, "ca", "voxgate-local-ca")
        serving = ca.issue(tls, "tls", "voxgate-local", server_names=("127.0.0.1",))
        self.ca_bundle = ca.files.cert_path.read_bytes()
        self.webhook_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")}
        env.update(operator_environment(self.manifests))
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            VOXGATE_OPA_URL=opa_url,
            VOXGATE_AUDIT_PATH=str(self.audit_path),
            VOXGATE_WEBHOOK_ADDRESS="127.0.0.1",
            VOXGATE_WEBHOOK_PORT=str(self.webhook_port),
            VOXGATE_WEBHOOK_CERT_FILE=str(serving.cert_path),
            VOXGATE_WEBHOOK_KEY_FILE=str(serving.key_path),
            VOXGATE_BROKER_PORT=str(free_port()),
            VOXGATE_BROKER_CERT_FILE=str(serving.cert_path),
            VOXGATE_BROKER_KEY_FILE=str(serving.key_path),
            VOXGATE_BROKER_CA_FILE=str(ca.files.cert_path),
        )
        return env

    def _start_operator(self, opa_url: str) -> None:
        env = self._environment(opa_url)
        health = free_port()
        self.health_url = f"http://127.0.0.1:{health}/healthz"
        self.operator = Component(
            "voxgate-operator",
            [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
             f"--liveness=http://127.0.0.1:{health}/healthz"],
            self.log_path,
        )  # fmt: skip
        self.operator.start(supervised=self.supervised, env=env)
        self.components.append(self.operator)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not (http_ok(self.health_url) and self._tls_listening()):
            if self.operator.exit_code() is not None or time.monotonic() > deadline:
                raise ControlPlaneError(f"the operator did not start:\n{self.operator.log_tail()}")
            time.sleep(0.1)

    def _tls_listening(self) -> bool:
        context = ssl.create_default_context(cadata=self.ca_bundle.decode())
        try:
            with (
                socket.create_connection(("127.0.0.1", self.webhook_port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return True
        except OSError:
            return False

    def register_webhooks(self) -> None:
        """Apply the chart's webhook configurations, calling this process; wait until they work."""
        configs = webhook_configurations_at(self.manifests, self.webhook_url, self.ca_bundle)
        self.plane.kubectl(
            "apply", "--server-side", "--field-manager=helm", "-f", "-",
            input=yaml.safe_dump_all(configs),
        )  # fmt: skip
        # The API server picks configurations up asynchronously.
        deadline = time.monotonic() + 30
        while not self._probe_refused():
            if time.monotonic() > deadline:
                raise ControlPlaneError("the API server never called the admission webhooks")
            time.sleep(0.2)

    def _probe_refused(self) -> bool:
        probe = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "TrainingJob",
            "metadata": {"name": "webhook-probe", "namespace": "default"},
            "spec": {
                "datasetRef": {"name": PROBE_DATASET},
                "purpose": "asr-training",
                "image": "registry.example.org/probe@sha256:" + "0" * 64,
            },
        }
        try:
            self.plane.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(probe))
        except KubectlError as error:
            return PROBE_DATASET in error.stderr
        return False
