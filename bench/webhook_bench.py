"""Benchmark: what the admission webhooks add to a researcher's `create TrainingJob`.

One run, one control plane of its own, a real operator serving the webhooks over TLS and a real
OPA. TrainingJobs are created one after another as a researcher (client certificate, RBAC), in
alternating blocks with the Mutating/ValidatingWebhookConfiguration registered and removed, so
both sides see the same API server, etcd size and operator load (the operator reconciles every
created job in both modes). Each side's first block is a warm-up and is not counted.

Three sides: "on" (voxgate's webhooks), "off" (none) and, in the paced phase, "no-op" (the
webhooks' configurations pointed at bench/noopwebhook, a Go server that allows everything at once
over the same TLS): the floor, what the API server itself spends calling out to any webhook.

Two phases: "burst" creates back to back (with webhooks on, every create waits for an operator
that is also reconciling the jobs created just before, on the same two cores as the API server
and etcd; with webhooks off the creates outrun the reconciler), "paced" leaves --interval seconds
between creates, enough for the operator to finish each job first (the cost of one admission on
a quiet operator). Goal from the webhook issue: p99 create latency with webhooks at most 1.3x
without.

usage: .venv/bin/python bench/webhook_bench.py [--jobs 240] [--block 40] [--interval 1.0]
(needs the Go toolchain, to build bench/noopwebhook)
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from voxgate import API_GROUP, API_VERSION
from voxgate.admission import WebhookEndpoint, webhook_configurations
from voxgate.devcluster import ControlPlane, UserCredentials, pki
from voxgate.devcluster.controlplane import KubectlError
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import Component, free_port, http_ok

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "webhook-latency.json"
OPERATOR_NAMESPACE = "voxgate-system"
DATA, TEAM = "speech-data", "team-asr"
GOAL = "<= 1.3"
NOOP_SOURCE = REPO / "bench" / "noopwebhook"
PROBE_NAME = "webhook-probe"  # the no-op webhook refuses this name, and only this one
ON, OFF, NOOP = "on", "off", "no-op"


class Cluster:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.plane = ControlPlane(state / "plane")
        self.opa = OpaServer(REPO / "policies", state / "opa")
        self.port = free_port()
        self.operator: Component | None = None
        self.noop: Component | None = None
        self.configs: dict[str, tuple[dict[str, Any], ...]] = {OFF: ()}

    def start(self) -> None:
        self.plane.start()
        crds = str(REPO / "crds")
        self.plane.kubectl("apply", "--server-side", "-f", crds)
        self.plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
        core = client.CoreV1Api(self.plane.api_client())
        for name in (OPERATOR_NAMESPACE, DATA, TEAM):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        self.opa.start()
        tls = self.state / "tls"
        ca = pki.new_ca(tls, "webhook-ca", "voxgate-bench-webhook-ca")
        serving = ca.issue(tls, "webhook", "voxgate-webhook", server_names=("127.0.0.1",))
        health = free_port()
        env = dict(
            os.environ,
            KUBECONFIG=str(self.plane.kubeconfig),
            VOXGATE_OPA_URL=self.opa.url,
            # A stable replica name: a restarted operator takes its own Lease back at once.
            POD_NAME="voxgate-0",
            VOXGATE_AUDIT_PATH=str(self.state / "audit.jsonl"),
            VOXGATE_WEBHOOK_CERT_FILE=str(serving.cert_path),
            VOXGATE_WEBHOOK_KEY_FILE=str(serving.key_path),
            VOXGATE_WEBHOOK_ADDRESS="127.0.0.1",
            VOXGATE_WEBHOOK_PORT=str(self.port),
        )
        self.operator = Component(
            "voxgate-operator",
            [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
             f"--liveness=http://127.0.0.1:{health}/healthz"],
            self.state / "operator.log",
        )  # fmt: skip
        self.operator.start(supervised=True, env=env)
        context = ssl.create_default_context(cafile=str(ca.files.cert_path))
        deadline = time.monotonic() + 60
        while not (http_ok(f"http://127.0.0.1:{health}/healthz") and _tls_up(self.port, context)):
            if self.operator.exit_code() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"operator did not start:\n{self.operator.log_tail(60)}")
            time.sleep(0.1)
        self.configs[ON] = self._configurations(ca.files.cert_path, self.port)
        self.configs[NOOP] = self._configurations(
            ca.files.cert_path, self._start_noop(serving, context)
        )

    def _start_noop(self, serving: pki.KeyPair, context: ssl.SSLContext) -> int:
        binary = self.state / "noopwebhook"
        subprocess.run(
            ["go", "build", "-o", str(binary), "."], cwd=NOOP_SOURCE, check=True, timeout=300
        )
        port = free_port()
        noop = Component(
            "noopwebhook",
            [str(binary), f"127.0.0.1:{port}", str(serving.cert_path), str(serving.key_path)],
            self.state / "noopwebhook.log",
        )
        self.noop = noop
        noop.start(supervised=True)
        deadline = time.monotonic() + 30
        while not _tls_up(port, context):
            if noop.exit_code() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench/noopwebhook did not start:\n{noop.log_tail(20)}")
            time.sleep(0.1)
        return port

    @staticmethod
    def _configurations(ca_file: Path, port: int) -> tuple[dict[str, Any], ...]:
        endpoint = WebhookEndpoint(ca_file.read_bytes(), url=f"https://127.0.0.1:{port}")
        return webhook_configurations(endpoint, exclude_namespace=OPERATOR_NAMESPACE)

    def stop(self) -> None:
        if self.noop is not None:
            self.noop.stop()
        if self.operator is not None:
            self.operator.stop()
        self.opa.stop()
        self.plane.stop()

    def use(self, side: str) -> None:
        """Register one side's configurations (none for "off"), then wait until the API server
        follows. Both sides' configurations carry the same names, so applying one replaces the
        other."""
        wanted = {(c["kind"], c["metadata"]["name"]) for c in self.configs[side]}
        for kind, name in {(c["kind"], c["metadata"]["name"]) for c in self.configs[ON]} - wanted:
            self.plane.kubectl("delete", "--ignore-not-found", kind.lower(), name)
        for config in self.configs[side]:
            self.plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(config))
        deadline = time.monotonic() + 30
        while self._answering() != side:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not switch to the {side!r} webhooks")
            time.sleep(0.1)

    def _answering(self) -> str:
        """Which side answers a dry-run create: voxgate refuses the unknown dataset, the no-op
        webhook the probe's name, and without webhooks it is created."""
        probe = job_template()
        probe["metadata"]["name"] = PROBE_NAME
        probe["spec"]["datasetRef"]["name"] = "no-such-dataset"
        try:
            self.plane.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(probe))
        except KubectlError as error:
            if "no-such-dataset" in error.stderr:
                return ON
            if "noopwebhook" in error.stderr:
                return NOOP
            return "unknown"  # switching over: ask again
        return OFF


def _tls_up(port: int, context: ssl.SSLContext) -> bool:
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


def example(relative: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((REPO / "examples" / relative).read_text()) if d]
    found: dict[str, Any] = next(d for d in docs if d["apiVersion"].startswith(API_GROUP))
    return found


def job_template() -> dict[str, Any]:
    """An admissible job without DP (synthetic data), so creating hundreds spends no budget."""
    job = example("jobs/admit-tts-synthetic.yaml")
    job["metadata"]["annotations"] = {}
    return job


def setup_world(plane: ControlPlane) -> UserCredentials:
    """The synthetic dataset and an approved grant (stamps as the webhook would have recorded
    them, created while no webhook is registered), and a researcher allowed to create jobs."""
    custom = client.CustomObjectsApi(plane.api_client())
    for relative in ("datasets/synthetic-voices.yaml", "grants/synthetic-team-asr.yaml"):
        obj = example(relative)
        plural = {"SpeechDataset": "speechdatasets", "DataGrant": "datagrants"}[obj["kind"]]
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, DATA, plural, obj)
    rbac = client.RbacAuthorizationV1Api(plane.api_client())
    rule = client.V1PolicyRule(
        api_groups=[API_GROUP], resources=["trainingjobs"], verbs=["get", "create"]
    )
    rbac.create_namespaced_role(
        TEAM, client.V1Role(metadata=client.V1ObjectMeta(name="researcher"), rules=[rule])
    )
    alice = plane.user("alice@example.org", ["team-asr"])
    rbac.create_namespaced_role_binding(
        TEAM,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="researcher"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="researcher"
            ),
            subjects=[
                client.RbacV1Subject(
                    api_group="rbac.authorization.k8s.io", kind="User", name=alice.username
                )
            ],
        ),
    )
    return alice


def create_block(
    custom: client.CustomObjectsApi, prefix: str, count: int, interval: float
) -> list[float]:
    template = job_template()
    latencies = []
    for index in range(count):
        job = copy.deepcopy(template)
        job["metadata"]["name"] = f"{prefix}-{index}"
        begin = time.perf_counter()
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, TEAM, "trainingjobs", job)
        latencies.append(time.perf_counter() - begin)
        time.sleep(max(0.0, interval - latencies[-1]))
    return latencies


# The sides each phase measures, in the order their blocks alternate.
PHASES = {"burst": (ON, OFF), "paced": (ON, OFF, NOOP)}


def measure(
    cluster: Cluster, custom: client.CustomObjectsApi, phase: str, args: argparse.Namespace
) -> dict[str, list[float]]:
    """Alternating blocks per side; the first block of each side warms up and is dropped."""
    interval = args.interval if phase == "paced" else 0.0
    samples: dict[str, list[float]] = {side: [] for side in PHASES[phase]}
    for round_ in range(args.jobs // args.block + 1):
        for side in PHASES[phase]:
            cluster.use(side)
            prefix = f"{phase}-{side}-{round_}"
            latencies = create_block(custom, prefix, args.block, interval)
            if round_ > 0:
                samples[side].extend(latencies)
            print(f"{prefix}: p50 {statistics.median(latencies) * 1000:.1f} ms", flush=True)
    return samples


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=240, help="measured creates per side")
    parser.add_argument("--block", type=int, default=40, help="creates per alternating block")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between paced creates")
    args = parser.parse_args()
    if args.jobs < 200 or args.jobs % args.block:
        parser.error("--jobs must be >= 200 and a multiple of --block")
    phases: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp))
        try:
            cluster.start()
            alice = setup_world(cluster.plane)
            custom = client.CustomObjectsApi(cluster.plane.api_client(alice))
            for phase in PHASES:
                phases[phase] = measure(cluster, custom, phase, args)
        finally:
            cluster.stop()
    command = (
        f".venv/bin/python bench/webhook_bench.py --jobs {args.jobs} --block {args.block} "
        f"--interval {args.interval}"
    )
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = []
    names = {ON: "webhooks on", NOOP: "no-op webhooks (the floor; context, no goal)"}
    for phase, samples in phases.items():
        for side in (s for s in PHASES[phase] if s != OFF):
            for label, q in (("p50", 50), ("p99", 99)):
                value, off = percentile(samples[side], q), percentile(samples[OFF], q)
                records.append(
                    {
                        "name": f"trainingjob-create-{label}-{phase}, {names[side]} vs off",
                        "value": round(value * 1000, 3),
                        "unit": "ms",
                        "baseline": round(off * 1000, 3),
                        "ratio": round(value / off, 3),
                        "goal": GOAL if label == "p99" and side == ON else None,
                        "command": command,
                        "date": date,
                    }
                )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(records, indent=2) + "\n")
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
