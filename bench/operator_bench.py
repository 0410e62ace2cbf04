"""Benchmark: the operator under a burst of TrainingJobs, against a bare client doing the same work.

    .venv/bin/python bench/operator_bench.py [--threads 16]

Everything runs on isolated control planes this script starts (etcd + kube-apiserver), with a
real OPA serving policies/ and a real operator process (`python -m voxgate operator run`); every
process is supervised (killed with this script) and stopped on the way out.

1. Decision-to-ready latency. 200 TrainingJobs (the admitted call-centre example, steps 100, on a
   dataset and grant with room for all of them) are created at once from a thread pool; a watch
   on trainingjobs stamps the moment each one shows status.phase Admitted (ready). Per job:
   - decision-to-ready, the issue's measure (goal on p99: ratio <= 1.5): from the moment the
     policy answered, the `decidedAt` of the job's decision.allowed record in the operator's
     audit trail (same host clock), to that watch event;
   - create-to-ready, what a researcher waits in all (no goal): from the return of the create
     call, the wait for a decision included, to that watch event.
   Baseline, on the same control plane before the operator starts: a bare kubernetes client
   that, from the same thread pool, creates each TrainingJob, builds its children with
   build_children (an allowed Decision as the builder tests make one, so it is decided the
   moment its create returns), server-side applies the five children and patches the status;
   latency per job: from the return of its create call to the return of the status patch (a
   warm-up of 20 jobs goes first). Rows: p50 and p99 of both measures, and jobs/s. That
   baseline never queues a created job, while the operator's jobs wait for it; one more row
   sets the operator's create-to-ready p99 against a bare client that creates all 200 first and
   then admits them from the same pool: the floor for any controller doing the same writes.
2. API writes per admitted job, from kube-apiserver's own apiserver_request_total (GET /metrics
   with the admin certificate): write verbs during the operator's burst, minus the script's 200
   TrainingJob creates and the API server's own lease renewals, divided by 200. Every client is
   the admin user in this setup, so the window holds only the operator's writes besides those.
   Goal: at most children + 2 = 7 per job.
3. Operator memory. On a second fresh control plane (so that "idle" means no voxgate object at
   all), VmRSS of the operator process after start-up, then with 1,000 TrainingJobs, once every
   one has a phase and the operator has stopped writing. Goal: ratio <= 1.5.

Writes bench/results/operator-burst.json: a list of {name, value, unit, baseline, ratio, goal,
command, date}; `goal` is the target for `ratio` (null where a row is only informative).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import re
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException

from voxgate import API_GROUP, API_VERSION
from voxgate.builders import WorkloadPlan, build_children
from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import Component, free_port, http_ok
from voxgate.policy.decision import Decision, Egress, Obligations
from voxgate.privacy.accountant import epsilon as job_epsilon
from voxgate.privacy.params import DPSGDParams
from voxgate.reconcile.trainingjob import admitted_status
from voxgate.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RESULTS = REPO / "bench" / "results" / "operator-burst.json"
COMMAND = ".venv/bin/python bench/operator_bench.py"

BURST = 200
MANY = 1000
CHILDREN = 5
WRITES_GOAL_PER_JOB = CHILDREN + 2
# Small jobs on a roomy budget: 1,200 of them compose to about epsilon 5 at delta 1e-6.
STEPS = 100
BUDGET_EPSILON = 50.0
BURST_TIMEOUT_SECONDS = 240.0
MANY_TIMEOUT_SECONDS = 420.0
# The operator has stopped writing once the API server counts no new write for this long.
QUIET_SECONDS = 4.0
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
MANAGED = "app.kubernetes.io/managed-by=voxgate"
PLURALS = {"SpeechDataset": "speechdatasets", "DataGrant": "datagrants"}
CHILD_KINDS = (
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "Service"),
    ("batch/v1", "Job"),
)
# The allowing decision of the raw tier, as tests/unit/builders/conftest.py makes it (and as
# policies/voxgate/config/data.yaml has it).
RAW_OBLIGATIONS = Obligations(
    require_dp=True,
    max_epsilon=1.0,
    credential_ttl_seconds=900,
    egress=Egress("deny"),
    memory_only_data=True,
    max_workers=8,
)
RAW_OBLIGATIONS_DOCUMENT: dict[str, Any] = {
    "tier": "raw",
    "requireDP": True,
    "maxEpsilon": 1.0,
    "minNoiseMultiplier": 1.0,
    "credentialTTLSeconds": 900,
    "egress": {"mode": "deny"},
    "memoryOnlyData": True,
    "maxWorkers": 8,
    "maxResourcesPerWorker": {
        "cpu": "16",
        "memory": "64Gi",
        "nvidia.com/gpu": "2",
        "ephemeral-storage": "10Gi",
    },
    "chargeGrant": "callcentre-team-asr",
}

Object = dict[str, Any]


class BenchError(RuntimeError):
    """The benchmark could not measure what it set out to (a job denied, a timeout)."""


# -- processes -------------------------------------------------------------------------------


def start_plane(state: Path) -> ControlPlane:
    plane = ControlPlane(state)
    plane.start()
    crds = str(REPO / "crds")
    plane.kubectl("apply", "--server-side", "-f", crds)
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
    core = client.CoreV1Api(plane.api_client())
    # The operator's own namespace, where it anchors its audit trail.
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="voxgate-system")))
    return plane


def start_operator(plane: ControlPlane, opa: OpaServer, state: Path) -> Component:
    port = free_port()
    env = dict(
        os.environ,
        KUBECONFIG=str(plane.kubeconfig),
        VOXGATE_OPA_URL=opa.url,
        # A stable replica name: a restarted operator takes its own Lease back at once.
        POD_NAME="voxgate-0",
        VOXGATE_AUDIT_PATH=str(state / "audit.jsonl"),
    )
    operator = Component(
        "voxgate-operator",
        [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
         f"--liveness=http://127.0.0.1:{port}/healthz"],
        state / "operator.log",
    )  # fmt: skip
    operator.start(supervised=True, env=env)
    plane.extra_logs.append(operator)
    deadline = time.monotonic() + 60
    while not http_ok(f"http://127.0.0.1:{port}/healthz"):
        if operator.exit_code() is not None or time.monotonic() > deadline:
            raise BenchError(f"operator did not start:\n{operator.log_tail(60)}")
        time.sleep(0.1)
    return operator


def fast_client(plane: ControlPlane, pool: int) -> client.ApiClient:
    """An admin client whose connection pool fits `pool` threads (the default keeps 10)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = pool + 4
    return client.ApiClient(configuration)


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


# -- the API server's own write counter ------------------------------------------------------

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def write_counts(plane: ControlPlane) -> Counter[tuple[str, str, str]]:
    """apiserver_request_total for write verbs, by (verb, resource, subresource)."""
    context = ssl.create_default_context(cafile=str(plane.ca_path))
    context.load_cert_chain(plane.pki_dir / "admin.crt", plane.pki_dir / "admin.key")
    host_port = plane.server.removeprefix("https://")
    conn = http.client.HTTPSConnection(host_port, timeout=10, context=context)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"GET /metrics answered {response.status}")
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("verb") in WRITE_VERBS:
            key = (labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))
            counts[key] += int(float(match["value"]))
    return counts


def wait_until_quiet(plane: ControlPlane, limit: float = 60.0) -> Counter[tuple[str, str, str]]:
    """Write counts once QUIET_SECONDS pass without a write other than lease renewals."""
    deadline = time.monotonic() + limit
    last = without_leases(write_counts(plane))
    while time.monotonic() < deadline:
        time.sleep(QUIET_SECONDS)
        now = without_leases(write_counts(plane))
        if now == last:
            return now
        last = now
    return last


def without_leases(counts: Counter[tuple[str, str, str]]) -> Counter[tuple[str, str, str]]:
    # The API server renews its own identity lease every 10 s; the operator runs standalone
    # (no peering, no leader election) and writes no lease.
    return Counter({key: n for key, n in counts.items() if key[1] != "leases"})


# -- the examples in fresh namespaces --------------------------------------------------------


def example(relative: str, kind: str) -> Object:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / relative).read_text()) if d]
    return cast(Object, copy.deepcopy(next(d for d in docs if d["kind"] == kind)))


@dataclass
class Scenario:
    """Data and team namespaces, and the call-centre examples rewritten into them (as the
    operator tests' World does), with room in the budget for every job of the run."""

    api: client.ApiClient
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    @property
    def data_ns(self) -> str:
        return f"data-{self.suffix}"

    @property
    def team_ns(self) -> str:
        return f"team-{self.suffix}"

    def create_namespaces(self) -> None:
        core = client.CoreV1Api(self.api)
        for ns in (self.data_ns, self.team_ns):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    def dataset(self) -> Object:
        obj = example("datasets/callcentre-2024.yaml", "SpeechDataset")
        obj["metadata"]["namespace"] = self.data_ns
        obj["spec"]["privacy"]["budget"]["epsilon"] = BUDGET_EPSILON
        return obj

    def grant(self) -> Object:
        obj = example("grants/callcentre-team-asr.yaml", "DataGrant")
        obj["metadata"]["namespace"] = self.data_ns
        obj["spec"]["grantee"]["namespace"] = self.team_ns
        obj["spec"]["privacy"]["epsilon"] = BUDGET_EPSILON
        return obj

    def job(self, name: str) -> Object:
        obj = example("jobs/admit-asr-callcentre-dp.yaml", "TrainingJob")
        obj["metadata"]["name"] = name
        obj["metadata"]["namespace"] = self.team_ns
        obj["spec"]["datasetRef"]["namespace"] = self.data_ns
        obj["spec"]["privacy"]["steps"] = STEPS
        return obj

    def create_grant_and_dataset(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        for obj in (self.dataset(), self.grant()):
            plural = PLURALS[obj["kind"]]
            custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, self.data_ns, plural, obj
            )


def create_job(custom: client.CustomObjectsApi, job: Object) -> tuple[Object, float]:
    """Create one TrainingJob; returns it as stored and the moment the API server confirmed."""
    created = custom.create_namespaced_custom_object(
        API_GROUP, API_VERSION, job["metadata"]["namespace"], "trainingjobs", job
    )
    return cast(Object, created), time.monotonic()


# -- watching phases -------------------------------------------------------------------------


class PhaseWatch:
    """A watch on the TrainingJobs of one namespace: when each first showed each phase."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.first_seen: dict[tuple[str, str], float] = {}  # time.monotonic()
        self.phase: dict[str, str] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._watch: Any = None  # a kubernetes.watch.Watch (untyped)
        self._thread = threading.Thread(target=self._run, name="phase-watch", daemon=True)

    def __enter__(self) -> PhaseWatch:
        self._thread.start()
        with self._changed:  # the watch is open before anything is created
            if not self._changed.wait_for(lambda: self._watch is not None, timeout=30):
                raise BenchError("the TrainingJob watch did not open")
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()
        self._thread.join(timeout=15)

    def _list(self) -> str:
        listed = cast(
            Object,
            self.custom.list_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, "trainingjobs"
            ),
        )
        for item in listed["items"]:
            self._note(item)
        return str(listed["metadata"]["resourceVersion"])

    def _note(self, obj: Object) -> None:
        at = time.monotonic()
        phase = (obj.get("status") or {}).get("phase")
        if not phase:
            return
        name = obj["metadata"]["name"]
        with self._changed:
            self.first_seen.setdefault((name, phase), at)
            self.phase[name] = phase
            self._changed.notify_all()

    def _run(self) -> None:
        version = self._list()
        while not self._stopping.is_set():
            stream = cast(Any, watch).Watch()
            with self._changed:
                self._watch = stream
                self._changed.notify_all()
            try:
                for event in stream.stream(
                    self.custom.list_namespaced_custom_object,
                    API_GROUP, API_VERSION, self.namespace, "trainingjobs",
                    resource_version=version, timeout_seconds=5,
                ):  # fmt: skip
                    obj = cast(Object, event["object"])
                    if event["type"] == "ERROR":  # most likely 410 Gone: list again
                        version = self._list()
                        break
                    version = obj["metadata"]["resourceVersion"]
                    self._note(obj)
            except ApiException as error:
                if error.status != 410:
                    raise
                version = self._list()
            except Exception:
                if self._stopping.is_set():  # the control plane may already be going away
                    return
                raise

    def wait(self, names: list[str], done: Callable[[str | None], bool], timeout: float) -> None:
        """Until done(phase) holds for every name; a denied job ends the wait with an error."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(done(self.phase.get(n)) for n in names):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    phases = Counter(self.phase.get(n) for n in names)
                    raise BenchError(f"TrainingJobs did not get there in {timeout:.0f}s: {phases}")
                self._changed.wait(min(remaining, 1.0))


# -- 1. the burst, through the operator and with a bare client ------------------------------


@dataclass(frozen=True)
class Burst:
    latencies: list[float]  # seconds per job
    seconds: float  # first create sent to last job ready

    @property
    def jobs_per_second(self) -> float:
        return len(self.latencies) / self.seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class OperatorBurst:
    from_create: Burst  # the create call's return to status Admitted: waiting for a decision too
    from_decision: list[float]  # the policy's answer (audit decidedAt) to status Admitted
    writes: Counter[tuple[str, str, str]]


def operator_burst(
    plane: ControlPlane, scenario: Scenario, threads: int, api: client.ApiClient, audit: Path
) -> OperatorBurst:
    custom = client.CustomObjectsApi(api)
    jobs = [scenario.job(f"burst-{i:03d}") for i in range(BURST)]
    names = [j["metadata"]["name"] for j in jobs]
    with PhaseWatch(api, scenario.team_ns) as phases:
        before = without_leases(write_counts(plane))
        begin = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            created = {
                obj["metadata"]["name"]: at
                for obj, at in pool.map(lambda j: create_job(custom, j), jobs)
            }
        phases.wait(names, lambda p: p in ("Admitted", "Denied", "Failed"), BURST_TIMEOUT_SECONDS)
        wrong = {n: phases.phase[n] for n in names if phases.phase[n] != "Admitted"}
        if wrong:
            raise BenchError(f"{len(wrong)} of {BURST} burst jobs were not admitted: {wrong}")
        ready = {n: phases.first_seen[(n, "Admitted")] for n in names}
    after = wait_until_quiet(plane)
    # The audit trail's times are wall-clock; one offset, taken now, puts them on this clock.
    wall_minus_monotonic = time.time() - time.monotonic()
    decided = {
        name: moment - wall_minus_monotonic
        for name, moment in decision_moments(audit, scenario.team_ns).items()
    }
    missing = [n for n in names if n not in decided]
    if missing:
        raise BenchError(f"no decision.allowed audit record for {len(missing)} jobs: {missing[:5]}")
    return OperatorBurst(
        Burst([ready[n] - created[n] for n in names], max(ready.values()) - begin),
        [ready[n] - decided[n] for n in names],
        after - before,
    )


def decision_moments(audit: Path, namespace: str) -> dict[str, float]:
    """When the policy answered for each admitted TrainingJob (epoch seconds), from the
    operator's audit trail: the details' decidedAt, not the record's time (written later)."""
    moments: dict[str, float] = {}
    for line in audit.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        subject = record["subject"]
        if record["event"] != "decision.allowed" or subject.get("namespace") != namespace:
            continue
        decided = datetime.fromisoformat(record["details"]["decidedAt"].replace("Z", "+00:00"))
        moments.setdefault(subject["name"], decided.timestamp())
    return moments


def allowed_decision() -> Decision:
    return Decision(
        allowed=True,
        denials=(),
        obligations=RAW_OBLIGATIONS,
        policy_revision="sha256:bench",
        decision_id="bench-decision",
        obligations_document=RAW_OBLIGATIONS_DOCUMENT,
    )


class BareClient:
    """What the operator does for an admitted job, minus everything that makes it an operator:
    no watch, no OPA, no ledger, no kopf; the plain kubernetes client from a thread pool."""

    def __init__(self, scenario: Scenario, api: client.ApiClient) -> None:
        self.scenario = scenario
        self.custom = client.CustomObjectsApi(api)
        resources = dynamic.DynamicClient(api).resources
        self.by_kind = {kind: resources.get(api_version=v, kind=kind) for v, kind in CHILD_KINDS}
        self.dataset = scenario.dataset()
        self.decision = allowed_decision()
        self.params = DPSGDParams.from_spec(scenario.job("x")["spec"]["privacy"])
        # Priced once, outside the clock: the baseline has no OPA and no ledger.
        self.eps = job_epsilon(self.params)
        self.settings = OperatorSettings()

    def admit(self, created: Object) -> float:
        """Children applied and status written for a created job; returns when it was done."""
        plan = WorkloadPlan(
            job=created, dataset=self.dataset, decision=self.decision, dp_params=self.params,
            epsilon=self.eps, settings=self.settings,
        )  # fmt: skip
        for child in build_children(plan).all():
            self.by_kind[child["kind"]].server_side_apply(
                body=child,
                name=child["metadata"]["name"],
                namespace=child["metadata"]["namespace"],
                field_manager="voxgate-bench",
                force_conflicts=True,
            )
        now = datetime.now(UTC)
        status = admitted_status(
            created, self.decision, eps=self.eps, params=self.params, names=plan.names,
            expires=now + timedelta(hours=12), now=now,
        )  # fmt: skip
        self.custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, self.scenario.team_ns, "trainingjobs",
            created["metadata"]["name"], {"status": status},
        )  # fmt: skip
        return time.monotonic()

    def burst(self, prefix: str, count: int, threads: int) -> Burst:
        """Each thread creates a job and admits it at once: latency without any queue."""
        jobs = [self.scenario.job(f"{prefix}-{i:03d}") for i in range(count)]

        def one(job: Object) -> tuple[float, float]:
            created, at = create_job(self.custom, job)
            done = self.admit(created)
            return done - at, done

        begin = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            measured = list(pool.map(one, jobs))
        return Burst([m[0] for m in measured], max(m[1] for m in measured) - begin)

    def queued_burst(self, prefix: str, count: int, threads: int) -> Burst:
        """All jobs created first, then admitted by the pool in creation order: what a
        controller with no overhead at all would show, queueing included."""
        jobs = [self.scenario.job(f"{prefix}-{i:03d}") for i in range(count)]
        begin = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            created = list(pool.map(lambda j: create_job(self.custom, j), jobs))
            done = list(pool.map(lambda c: self.admit(c[0]), created))
        return Burst([d - c[1] for c, d in zip(created, done, strict=True)], max(done) - begin)


def remove_bare_objects(scenario: Scenario, api: client.ApiClient) -> None:
    """Leave the operator nothing of the baseline to resume (no garbage collector runs here)."""
    client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
        API_GROUP, API_VERSION, scenario.team_ns, "trainingjobs"
    )
    resources = dynamic.DynamicClient(api).resources
    for version, kind in CHILD_KINDS:
        resource = resources.get(api_version=version, kind=kind)
        resource.delete(namespace=scenario.team_ns, label_selector=MANAGED)


# -- 3. memory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    idle_kib: int
    loaded_kib: int
    peak_kib: int
    phases: Counter[str]  # "phase/reason" of every job when measured
    seconds: float


def operator_memory(plane: ControlPlane, opa: OpaServer, state: Path, threads: int) -> Memory:
    api = fast_client(plane, threads)
    operator = start_operator(plane, opa, state)
    try:
        time.sleep(5)  # let start-up finish (watches opened, first anchor written)
        idle = rss_kib(operator.pid)["VmRSS"]
        scenario = Scenario(api)
        scenario.create_namespaces()
        scenario.create_grant_and_dataset()
        custom = client.CustomObjectsApi(api)
        jobs = [scenario.job(f"many-{i:04d}") for i in range(MANY)]
        names = [j["metadata"]["name"] for j in jobs]
        with PhaseWatch(api, scenario.team_ns) as phases:
            begin = time.monotonic()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda j: create_job(custom, j), jobs))
            phases.wait(names, lambda p: p is not None, MANY_TIMEOUT_SECONDS)
            seconds = time.monotonic() - begin
        wait_until_quiet(plane)
        listed = custom.list_namespaced_custom_object(
            API_GROUP, API_VERSION, scenario.team_ns, "trainingjobs"
        )
        counted = Counter(
            f"{(j.get('status') or {}).get('phase')}/{(j.get('status') or {}).get('reason')}"
            for j in cast(Object, listed)["items"]
        )
        loaded = rss_kib(operator.pid)
        if operator.exit_code() is not None:
            raise BenchError(f"operator exited:\n{operator.log_tail(60)}")
        return Memory(idle, loaded["VmRSS"], loaded["VmHWM"], counted, seconds)
    finally:
        operator.stop()
        api.close()


# -- results ---------------------------------------------------------------------------------


def row(
    name: str, value: float, unit: str, baseline: float, *, goal: str | None, date: str
) -> Object:
    return {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": round(baseline, 4),
        "ratio": round(value / baseline, 4),
        "goal": goal,
        "command": COMMAND,
        "date": date,
    }


def describe_writes(writes: Counter[tuple[str, str, str]]) -> str:
    lines = [
        f"    {verb:<7} {resource}{'/' + sub if sub else ''}: {n}"
        for (verb, resource, sub), n in sorted(writes.items())
        if n
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def stopping(*stops: Callable[[], None]) -> Iterator[None]:
    try:
        yield
    finally:
        for stop in stops:
            stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=16, help="creating threads (default 16)")
    args = parser.parse_args(argv)
    threads: int = args.threads
    date = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    with tempfile.TemporaryDirectory(prefix="voxgate-operator-bench-") as tmp:
        state = Path(tmp)
        opa = OpaServer(REPO / "policies", state / "opa")
        opa.start()
        with stopping(opa.stop):
            plane = start_plane(state / "plane")
            with stopping(plane.stop):
                api = fast_client(plane, threads)
                bare_scenario = Scenario(api)
                bare_scenario.create_namespaces()
                bare_client = BareClient(bare_scenario, api)
                bare_client.burst("warm", 20, threads)  # connections, code paths, API server
                bare = bare_client.burst("bare", BURST, threads)
                queued = bare_client.queued_burst("queued", BURST, threads)
                for name, result in (("bare client", bare), ("bare client, queued", queued)):
                    print(f"{name}: p50 {statistics.median(result.latencies):.3f}s, "
                          f"p99 {percentile(result.latencies, 0.99):.3f}s, "
                          f"{result.jobs_per_second:.1f} jobs/s")  # fmt: skip
                remove_bare_objects(bare_scenario, api)
                scenario = Scenario(api)
                scenario.create_namespaces()
                scenario.create_grant_and_dataset()
                operator_state = state / "operator-burst"
                operator = start_operator(plane, opa, operator_state)
                with stopping(operator.stop):
                    wait_until_quiet(plane)  # dataset and grant reconciled, anchor written
                    measured = operator_burst(
                        plane, scenario, threads, api, operator_state / "audit.jsonl"
                    )
                api.close()
            burst, from_decision = measured.from_create, measured.from_decision
            writes = measured.writes
            print(f"operator, from create: p50 {statistics.median(burst.latencies):.3f}s, "
                  f"p99 {percentile(burst.latencies, 0.99):.3f}s, "
                  f"{burst.jobs_per_second:.1f} jobs/s; from decision: "
                  f"p50 {statistics.median(from_decision):.3f}s, "
                  f"p99 {percentile(from_decision, 0.99):.3f}s")  # fmt: skip
            own_creates = writes.pop(("POST", "trainingjobs", ""), 0)
            if own_creates != BURST:
                raise BenchError(f"counted {own_creates} TrainingJob creates, expected {BURST}")
            print(f"operator writes during the burst ({sum(writes.values())}):")
            print(describe_writes(writes))
            plane2 = start_plane(state / "plane-memory")
            with stopping(plane2.stop):
                memory = operator_memory(plane2, opa, state / "operator-memory", threads)
            print(f"operator RSS: idle {memory.idle_kib} KiB, {MANY} jobs {memory.loaded_kib} KiB "
                  f"(peak {memory.peak_kib} KiB); phases {dict(memory.phases)}, "
                  f"all phased after {memory.seconds:.1f}s")  # fmt: skip
    per_job = sum(writes.values()) / BURST
    records = [
        row(f"decision-to-ready latency p50, burst of {BURST} TrainingJobs (from the policy's "
            "answer to status Admitted)",
            statistics.median(from_decision), "s", statistics.median(bare.latencies),
            goal=None, date=date),
        row(f"decision-to-ready latency p99, burst of {BURST} TrainingJobs (from the policy's "
            "answer to status Admitted)",
            percentile(from_decision, 0.99), "s", percentile(bare.latencies, 0.99),
            goal="<= 1.5", date=date),
        row(f"create-to-ready latency p50, burst of {BURST} TrainingJobs (from the create "
            "call's return: the wait for a decision included)",
            statistics.median(burst.latencies), "s", statistics.median(bare.latencies),
            goal=None, date=date),
        row(f"create-to-ready latency p99, burst of {BURST} TrainingJobs (from the create "
            "call's return: the wait for a decision included)",
            percentile(burst.latencies, 0.99), "s", percentile(bare.latencies, 0.99),
            goal=None, date=date),
        row(f"create-to-ready latency p99, burst of {BURST} TrainingJobs (baseline: bare "
            "client that creates all jobs first, then admits them, queueing included)",
            percentile(burst.latencies, 0.99), "s", percentile(queued.latencies, 0.99),
            goal=None, date=date),
        row(f"admission throughput, burst of {BURST} TrainingJobs", burst.jobs_per_second,
            "jobs/s", bare.jobs_per_second, goal=None, date=date),
        row("API writes per admitted TrainingJob", per_job, "writes/job",
            WRITES_GOAL_PER_JOB, goal="<= 1.0", date=date),
        row(f"operator RSS with {MANY} TrainingJobs (baseline: idle)", memory.loaded_kib / 1024,
            "MiB", memory.idle_kib / 1024, goal="<= 1.5", date=date),
    ]  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(records, indent=2) + "\n")
    for r in records:
        print(f"{r['name']}: {r['value']} {r['unit']} "
              f"(baseline {r['baseline']}, ratio {r['ratio']}, goal {r['goal']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
