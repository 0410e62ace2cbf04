"""Benchmark: how long the test harness takes to bring up a ready control plane.

Measures voxgate's ControlPlane.start() (etcd + kube-apiserver with RBAC, a client CA and a
service-account issuer, until /readyz answers 200) against a baseline started in the same run
with envtest's default flags (authorization AlwaysAllow), on the same binaries.
Goal from the foundation issue: ready in under 15 s on this machine; and the extra security
features should cost little next to envtest's configuration.

usage: .venv/bin/python bench/controlplane_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from voxgate.devcluster import ControlPlane, pki, resolve_binary
from voxgate.devcluster.processes import Component, free_port, http_ok, https_ok

RESULTS = Path(__file__).parent / "results" / "operator-controlplane-startup.json"


def ours(state_dir: Path) -> float:
    plane = ControlPlane(state_dir)
    try:
        return plane.start()
    finally:
        plane.stop()


def envtest_style(state_dir: Path) -> float:
    """etcd + kube-apiserver with envtest's default flags (AlwaysAllow, no SA admission)."""
    begin = time.monotonic()
    certs = state_dir / "pki"
    ca = pki.new_ca(certs, "ca", "ca")
    ca.issue(certs, "serving", "kube-apiserver", server_names=("127.0.0.1",))
    pki.new_signing_key(certs, "sa")
    client_ca = pki.new_ca(certs, "client-ca", "client-ca")
    admin = client_ca.issue(certs, "admin", "admin", ("system:masters",), client=True)
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd = Component(
        "etcd",
        [str(resolve_binary("etcd")), f"--data-dir={state_dir / 'etcd'}",
         f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
         f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
         f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
         f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
         f"--initial-cluster=default=http://127.0.0.1:{peer_port}", "--unsafe-no-fsync=true"],
        state_dir / "etcd.log",
    )  # fmt: skip
    api = Component(
        "kube-apiserver",
        [str(resolve_binary("kube-apiserver")), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
         "--bind-address=127.0.0.1", f"--secure-port={api_port}",
         f"--cert-dir={certs}", f"--tls-cert-file={certs / 'serving.crt'}",
         f"--tls-private-key-file={certs / 'serving.key'}",
         f"--client-ca-file={certs / 'client-ca.crt'}",
         f"--service-account-issuer=https://127.0.0.1:{api_port}",
         f"--service-account-key-file={certs / 'sa.pub'}",
         f"--service-account-signing-key-file={certs / 'sa.key'}",
         "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
         "--authorization-mode=AlwaysAllow", "--disable-admission-plugins=ServiceAccount"],
        state_dir / "apiserver.log",
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(ca.files.cert_path))
    context.load_cert_chain(admin.cert_path, admin.key_path)
    try:
        etcd.start(supervised=True)
        while not http_ok(f"http://127.0.0.1:{etcd_port}/health"):
            if etcd.exit_code() is not None:
                raise RuntimeError(etcd.log_tail())
            time.sleep(0.05)
        api.start(supervised=True)
        while not https_ok(f"https://127.0.0.1:{api_port}/readyz", context):
            if api.exit_code() is not None:
                raise RuntimeError(api.log_tail())
            time.sleep(0.05)
        return time.monotonic() - begin
    finally:
        api.stop()
        etcd.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    measured: dict[str, list[float]] = {"ours": [], "envtest": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            # Interleaved, so drift on the machine hits both sides alike.
            measured["ours"].append(ours(Path(tmp) / f"ours-{run}"))
            measured["envtest"].append(envtest_style(Path(tmp) / f"envtest-{run}"))
            print(f"run {run + 1}: ours {measured['ours'][-1]:.2f}s, "
                  f"envtest-style {measured['envtest'][-1]:.2f}s")  # fmt: skip
    command = f".venv/bin/python bench/controlplane_startup.py --runs {args.runs}"
    date = datetime.datetime.now(datetime.UTC).date().isoformat()
    records = []
    for name, pick in (("p50", statistics.median), ("max", max)):
        value, baseline = pick(measured["ours"]), pick(measured["envtest"])
        records.append(
            {
                "name": f"controlplane-startup-{name}",
                "value": round(value, 3),
                "unit": "s",
                "baseline": round(baseline, 3),
                "ratio": round(value / baseline, 3),
                "goal": "<= 1.5",
                "command": command,
                "date": date,
            }
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(records, indent=2) + "\n")
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
