"""Benchmark: admission decision latency through voxgate's policy client, next to `opa bench`.

Both sides evaluate the same query (data.voxgate.admission.decision) on the same input (the
admitted call-centre example) in the same run: the client through a real OPA server over HTTP
(what the operator and the webhook do), `opa bench` in-process inside OPA (the floor). Goal from
the policy issue: client p99 at most 3x the `opa bench` p99.

usage: .venv/bin/python bench/policy_bench.py [--decisions 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from voxgate.cli.check import assemble, load_objects
from voxgate.devcluster import resolve_binary
from voxgate.devcluster.opa import OpaServer
from voxgate.policy.client import PolicyClient
from voxgate.policy.revision import BUNDLE_EXCLUDES

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
RESULTS = REPO / "bench" / "results" / "policy-decision-latency.json"
QUERY = "data.voxgate.admission.decision"


def decision_input() -> dict[str, object]:
    objects = load_objects(
        [REPO / "examples/datasets", REPO / "examples/grants",
         REPO / "examples/jobs/admit-asr-callcentre-dp.yaml"]
    )  # fmt: skip
    job = next(o for o in objects if o.kind == "TrainingJob")
    document, _ = assemble(job, objects, datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC), None)
    return document.document()


async def client_latencies(url: str, document: dict[str, object], count: int) -> list[float]:
    latencies = []
    async with PolicyClient(url) as client:
        for _ in range(50):  # warm the connection pool and OPA's caches
            await client.decide(document)
        for _ in range(count):
            begin = time.perf_counter()
            decision = await client.decide(document)
            latencies.append(time.perf_counter() - begin)
            assert decision.allowed, decision.denials
    return latencies


def opa_bench(document: dict[str, object]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(document, handle)
        handle.flush()
        ignores = [f"--ignore={pattern}" for pattern in BUNDLE_EXCLUDES]
        out = subprocess.run(
            [str(resolve_binary("opa")), "bench", "--bundle", str(POLICIES), *ignores,
             "--input", handle.name, "--format=json", "--count=1",
             QUERY],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    extra = json.loads(out)["Extra"]
    prefix = "histogram_timer_rego_query_eval_ns_"
    return {"p50": extra[prefix + "median"] / 1e9, "p99": extra[prefix + "99%"] / 1e9}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    document = decision_input()
    with tempfile.TemporaryDirectory() as tmp:
        server = OpaServer(POLICIES, Path(tmp))
        server.start()
        try:
            latencies = asyncio.run(client_latencies(server.url, document, args.decisions))
        finally:
            server.stop()
    floor = opa_bench(document)
    ours = {"p50": statistics.median(latencies), "p99": percentile(latencies, 99)}
    command = f".venv/bin/python bench/policy_bench.py --decisions {args.decisions}"
    date = datetime.datetime.now(datetime.UTC).date().isoformat()
    records = [
        {
            "name": f"policy-client-decision-{q}",
            "value": round(ours[q] * 1000, 3),
            "unit": "ms",
            "baseline": round(floor[q] * 1000, 3),
            "ratio": round(ours[q] / floor[q], 3),
            "goal": "<= 3",
            "command": command,
            "date": date,
        }
        for q in ("p50", "p99")
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(records, indent=2) + "\n")
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
