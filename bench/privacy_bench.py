"""Privacy benchmarks: accountant cost against step count, ledger compare-and-swap under contention.

    .venv/bin/python bench/privacy_bench.py accountant
    .venv/bin/python bench/privacy_bench.py ledger --kubeconfig PATH [--threads 8] [--ops 160]

Each writes bench/results/privacy-<part>.json: a list of {name, value, unit, baseline, ratio,
goal, command, date}. `goal` is the target for `ratio` (null where a row is the baseline).

Accountant: the time of one `epsilon()` call for noise 1.1, sample rate 0.004, delta 1e-5 at 10^3,
10^5 and 10^6 steps; the steps are one SelfComposedDpEvent, so time should not grow with them
(goal: time(10^k) / time(10^3) <= 2). Median of --repeat runs, caches cleared before each.

Ledger: reservations of fresh uids written to one ledger ConfigMap through LedgerStore (read,
reserve, replace with resourceVersion, retry on 409 with jittered backoff). Baseline: one thread.
Then --threads threads on fresh ledgers, the same total number of writes, twice: each thread with
a store of its own (independent writers, as other processes would be: only the compare-and-swap
keeps them apart), and all threads sharing one store (the operator's handler threads, which queue
on the store's per-dataset lock). The API server serialises writes to one object, so contention
can never make it faster than one writer. Goals: independent writers keep at least half of the
single-writer throughput (retries must not collapse it); threads sharing a store keep 80%.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voxgate.privacy.accountant import clear_caches, epsilon
from voxgate.privacy.ledger import Budget, LedgerEntry, new_entry
from voxgate.privacy.params import Accountant, DPSGDParams
from voxgate.privacy.store import LedgerStore

RESULTS = Path(__file__).resolve().parent / "results"
STEP_COUNTS = (1_000, 100_000, 1_000_000)


def _row(
    name: str, value: float, *, unit: str, baseline: float, goal: str | None, command: str
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 6),
        "unit": unit,
        "baseline": round(baseline, 6),
        "ratio": round(value / baseline, 4),
        "goal": goal,
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _median_seconds(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        clear_caches()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_accountant(repeat: int, command: str) -> list[dict[str, Any]]:
    rows = []
    accountants: tuple[Accountant, ...] = ("rdp", "pld")
    for accountant in accountants:
        epsilon(DPSGDParams(1.1, 0.004, 1_000, 1e-5, accountant=accountant))  # warm imports
        timings = {
            steps: _median_seconds(
                functools.partial(
                    epsilon, DPSGDParams(1.1, 0.004, steps, 1e-5, accountant=accountant)
                ),
                repeat,
            )
            for steps in STEP_COUNTS
        }
        baseline = timings[STEP_COUNTS[0]]
        for steps, seconds in timings.items():
            rows.append(
                _row(
                    f"epsilon() {accountant}, noise 1.1, q 0.004, delta 1e-5, {steps} steps",
                    seconds,
                    unit="s",
                    baseline=baseline,
                    goal=None if steps == STEP_COUNTS[0] else "<= 2",
                    command=command,
                )
            )
    return rows


def _now() -> datetime:
    return datetime.now(UTC)


def _jobs(ops: int) -> list[LedgerEntry]:
    # Priced before the clock starts: this measures the compare-and-swap, not the accountant.
    params = DPSGDParams(4.0, 0.001, 100, 1e-5)
    return [
        new_entry(uid, job_namespace="bench", job_name=uid, grant="bench", params=params, at=_now())
        for uid in (str(uuid.uuid4()) for _ in range(ops))
    ]


def _throughput(
    stores: list[LedgerStore], namespace: str, *, threads: int, ops: int, limits: Budget
) -> tuple[float, int]:
    """Writes per second of `threads` threads reserving `ops` fresh uids in one new ledger.

    Thread i writes through stores[i % len(stores)]: one store shared by all threads is the
    operator's case, one store per thread stands for independent writers (other processes).
    """
    dataset = f"bench-{uuid.uuid4().hex[:8]}"
    jobs = _jobs(ops)
    shares = [jobs[i::threads] for i in range(threads)]
    done: list[int] = []
    start_line = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        store = stores[index % len(stores)]
        start_line.wait()
        for job in shares[index]:
            store.reserve(namespace, dataset, job, limits)
        done.append(index)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if len(done) != threads:
        raise RuntimeError("a benchmark thread failed; see its traceback above")
    return ops / elapsed, sum(store.conflicts for store in stores)


def bench_ledger(
    kubeconfig: str, threads: int, ops: int, namespace: str | None, command: str
) -> list[dict[str, Any]]:
    from kubernetes import client, config  # noqa: PLC0415 - only this part needs a cluster

    clients = [config.new_client_from_config(config_file=kubeconfig) for _ in range(threads + 1)]
    core = client.CoreV1Api(clients[0])
    owned = namespace is None
    namespace = namespace or f"bench-privacy-{uuid.uuid4().hex[:8]}"
    if owned:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    limits = Budget(1e6, 1e-5, {"bench": 1e6})

    def stores(count: int) -> list[LedgerStore]:
        return [LedgerStore.from_api_client(api) for api in clients[:count]]

    try:
        _throughput(stores(1), namespace, threads=1, ops=10, limits=limits)  # warm connections
        single, _ = _throughput(stores(1), namespace, threads=1, ops=ops, limits=limits)
        independent, conflicts = _throughput(
            stores(threads), namespace, threads=threads, ops=ops, limits=limits
        )
        shared, _ = _throughput(stores(1), namespace, threads=threads, ops=ops, limits=limits)
    finally:
        if owned:
            core.delete_namespace(namespace)
        for api in clients:
            api.close()

    def throughput_row(name: str, value: float, goal: str | None) -> dict[str, Any]:
        return _row(name, value, unit="writes/s", baseline=single, goal=goal, command=command)

    conflict_row = _row(
        f"ledger lost compare-and-swaps per write, {threads} independent writers",
        conflicts / ops,
        unit="conflicts/write",
        baseline=1.0,
        goal=None,
        command=command,
    )
    return [
        throughput_row(f"ledger reserve, 1 writer, {ops} writes", single, None),
        throughput_row(
            f"ledger reserve, {threads} independent writers (compare-and-swap), {ops} writes",
            independent,
            ">= 0.5",
        ),
        {**conflict_row, "baseline": None, "ratio": None},
        throughput_row(
            f"ledger reserve, {threads} threads sharing one LedgerStore (operator), {ops} writes",
            shared,
            ">= 0.8",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parts = parser.add_subparsers(dest="part", required=True)
    accountant = parts.add_parser("accountant")
    accountant.add_argument("--repeat", type=int, default=7)
    ledger = parts.add_parser("ledger")
    ledger.add_argument("--kubeconfig", required=True)
    ledger.add_argument("--threads", type=int, default=8)
    ledger.add_argument("--ops", type=int, default=160)
    ledger.add_argument("--namespace", help="an existing namespace (default: a fresh one)")
    args = parser.parse_args(argv)
    given = list(argv if argv is not None else sys.argv[1:])
    if args.part == "ledger":  # a reproducible command, not this machine's temporary path
        given[given.index("--kubeconfig") + 1] = "$KUBECONFIG"
    command = shlex.join([".venv/bin/python", "bench/privacy_bench.py", *given])
    command = command.replace("'$KUBECONFIG'", '"$KUBECONFIG"')
    if args.part == "accountant":
        rows = bench_accountant(args.repeat, command)
        out = RESULTS / "privacy-accountant.json"
    else:
        rows = bench_ledger(args.kubeconfig, args.threads, args.ops, args.namespace, command)
        out = RESULTS / "privacy-ledger-cas.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    for row in rows:
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']} (goal {row['goal']})"
        print(f"{row['name']}: {row['value']} {row['unit']}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
