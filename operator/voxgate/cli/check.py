"""`voxgate check`: the admission decision offline, for researchers and for CI.

    voxgate check -f job.yaml -f dataset.yaml -f grants/       one decision per TrainingJob
    voxgate check --suite policies/suite.yaml                   regression cases with expectations

Exit codes: 0 allowed (or every suite case passed), 1 denied (or a case failed), 2 usage or input
error. The decision input is assembled exactly as the operator assembles it
(voxgate.policy.inputs) and evaluated by the same policies, with bin/opa or a given --opa-url.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voxgate.cli.errors import UsageError
from voxgate.devcluster.binaries import REPO_ROOT, BinaryNotFound, resolve_binary
from voxgate.policy import Decision
from voxgate.policy.client import PolicyClient
from voxgate.policy.inputs import (
    DecisionInput,
    LedgerView,
    Requester,
    dataset_key,
    grants_for,
    parents_of,
)
from voxgate.policy.local import evaluate_many
from voxgate.privacy.accountant import epsilon
from voxgate.privacy.params import DPSGDParams, InvalidDPParams

VOXGATE_KINDS = ("TrainingJob", "SpeechDataset", "DataGrant")
# Objects that travel with the examples but take no part in a decision.
IGNORED_KINDS = ("Namespace", "PersistentVolumeClaim")
YAML_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Loaded:
    path: Path
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def key(self) -> tuple[str, str]:
        meta = self.obj.get("metadata", {})
        return str(meta.get("namespace", "default")), str(meta.get("name", ""))


@dataclass(frozen=True)
class Outcome:
    job: Loaded
    decision: Decision
    epsilon: float | None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="evaluate the admission policy offline for TrainingJob files (or a suite)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "-f", "--filename", action="append", default=[], type=Path, metavar="PATH",
        help="a YAML/JSON file or a directory of them (repeatable)",
    )  # fmt: skip
    parser.add_argument("--suite", type=Path, help="a PolicySuite file of cases to verify")
    parser.add_argument(
        "--policies", type=Path, default=REPO_ROOT / "policies",
        help="the policy bundle directory (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--opa-url", help="ask this OPA server instead of running bin/opa")
    parser.add_argument("--now", help="decide as of this RFC 3339 time (default: now)")
    parser.add_argument("--as", dest="as_user", help="requester username, if no annotation says")
    parser.add_argument("--as-group", action="append", default=[], help="requester group")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.filename) == bool(args.suite):
        raise UsageError("give either -f PATH (one or more) or --suite FILE")
    if args.suite:
        return _run_suite(args)
    objects = load_objects(args.filename)
    now = _parse_time(args.now) if args.now else datetime.datetime.now(datetime.UTC)
    fallback = Requester(args.as_user, tuple(args.as_group)) if args.as_user else None
    outcomes = decide_all(objects, now, fallback, args)
    if args.output == "json":
        print(json.dumps([_outcome_json(o) for o in outcomes], indent=2))
    else:
        print("\n\n".join(_outcome_text(o) for o in outcomes))
    return 0 if all(o.decision.allowed for o in outcomes) else 1


def load_objects(paths: Sequence[Path]) -> list[Loaded]:
    loaded: list[Loaded] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        for file in files:
            loaded.extend(_load_file(file))
    return loaded


def _load_file(path: Path) -> Iterable[Loaded]:
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise UsageError(f"{path}: invalid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise UsageError(f"{path}: document {index + 1} is not a Kubernetes object")
        if doc["kind"] in IGNORED_KINDS:
            continue
        if doc["kind"] not in VOXGATE_KINDS or not str(doc["apiVersion"]).startswith("voxgate.io/"):
            raise UsageError(
                f"{path}: {doc['kind']} is not something voxgate check evaluates "
                f"(expected {', '.join(VOXGATE_KINDS)})"
            )
        if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
            raise UsageError(f"{path}: document {index + 1} has no metadata.name")
        yield Loaded(path, doc)


def assemble(
    job: Loaded, objects: Sequence[Loaded], now: datetime.datetime, fallback: Requester | None
) -> tuple[DecisionInput, float | None]:
    datasets = {o.key: o.obj for o in objects if o.kind == "SpeechDataset"}
    namespace, name = dataset_key(job.obj)
    dataset = datasets.get((namespace, name))
    job_name = "/".join(job.key)
    if dataset is None:
        raise UsageError(
            f"{job.path}: TrainingJob {job_name} uses dataset {namespace}/{name}, "
            "which is not among the files given"
        )
    all_datasets = list(datasets.values())
    parents = parents_of(dataset, all_datasets)
    missing = {p.get("name") for p in dataset["spec"].get("derivedFrom", [])} - {
        p["metadata"]["name"] for p in parents
    }
    if missing:
        raise UsageError(
            f"dataset {namespace}/{name} derives from {', '.join(sorted(map(str, missing)))}, "
            "which is not among the files given"
        )
    grants = grants_for(dataset, [o.obj for o in objects if o.kind == "DataGrant"])
    job_epsilon, job_delta = _job_privacy(job)
    requester = Requester.from_annotation(job.obj) or fallback
    document = DecisionInput(
        training_job=job.obj,
        dataset=dataset,
        parents=parents,
        grants=grants,
        ledger=LedgerView.from_status(dataset, grants),
        epsilon=job_epsilon,
        delta=job_delta,
        requester=requester,
        now=now,
    )
    return document, job_epsilon


def _job_privacy(job: Loaded) -> tuple[float | None, float | None]:
    spec = job.obj.get("spec", {}).get("privacy")
    if spec is None:
        return None, None
    try:
        params = DPSGDParams.from_spec(spec)
        return epsilon(params), params.delta
    except InvalidDPParams as error:
        raise UsageError(f"{job.path}: spec.privacy: {error}") from None


def decide_all(
    objects: Sequence[Loaded],
    now: datetime.datetime,
    fallback: Requester | None,
    args: argparse.Namespace,
) -> list[Outcome]:
    jobs = [o for o in objects if o.kind == "TrainingJob"]
    if not jobs:
        raise UsageError("no TrainingJob among the files given")
    assembled = [assemble(job, objects, now, fallback) for job in jobs]
    documents = [a[0].document() for a in assembled]
    decisions = _evaluate(documents, args)
    return [
        Outcome(job, decision, eps)
        for job, decision, (_, eps) in zip(jobs, decisions, assembled, strict=True)
    ]


def _evaluate(documents: list[dict[str, Any]], args: argparse.Namespace) -> list[Decision]:
    if args.opa_url:
        try:
            client = PolicyClient(args.opa_url)
        except ValueError as error:
            raise UsageError(str(error)) from None

        async def ask() -> list[Decision]:
            async with client:
                return [await client.decide(d) for d in documents]

        return asyncio.run(ask())
    if not args.policies.is_dir():
        raise UsageError(f"{args.policies}: no such policy directory")
    try:
        opa = resolve_binary("opa")
    except BinaryNotFound as error:
        raise UsageError(str(error)) from None
    return evaluate_many(opa, args.policies, documents)


def _parse_time(text: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise UsageError(f"--now {text!r} needs a time zone (e.g. 2030-01-01T00:00:00Z)")
    return moment


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    namespace, name = outcome.job.key
    return {
        "trainingJob": {"namespace": namespace, "name": name, "file": str(outcome.job.path)},
        "epsilon": outcome.epsilon,
        **outcome.decision.as_status(),
    }


def _outcome_text(outcome: Outcome) -> str:
    decision = outcome.decision
    verdict = "ALLOWED" if decision.allowed else "DENIED"
    eps = f", epsilon {outcome.epsilon:.3g}" if outcome.epsilon is not None else ", no DP"
    lines = [f"TrainingJob {'/'.join(outcome.job.key)}: {verdict}{eps}"]
    lines += [f"  - {d.code}: {d.message}" for d in decision.denials]
    obligations = decision.as_status()["obligations"]
    lines.append(
        "  obligations: " + ", ".join(f"{k}={_compact(v)}" for k, v in obligations.items())
    )
    lines.append(f"  policy {decision.policy_revision[:19]}, decision {decision.decision_id}")
    return "\n".join(lines)


def _compact(value: object) -> str:
    return (
        json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else str(value)
    )


# -- suite mode ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteCase:
    name: str
    files: tuple[Path, ...]
    now: datetime.datetime
    requester: Requester | None
    allow: bool
    codes: frozenset[str]
    obligations: dict[str, Any]


def load_suite(path: Path) -> list[SuiteCase]:
    if not path.is_file():
        raise UsageError(f"{path}: no such suite file")
    try:
        suite = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise UsageError(f"{path}: invalid YAML") from None
    if not isinstance(suite, dict) or suite.get("kind") != "PolicySuite":
        raise UsageError(f"{path}: not a PolicySuite (kind: PolicySuite)")
    cases = suite.get("cases")
    if not isinstance(cases, list) or not cases:
        raise UsageError(f"{path}: a suite needs a non-empty list of cases")
    return [_suite_case(path, i, c) for i, c in enumerate(cases)]


def _suite_case(path: Path, index: int, case: object) -> SuiteCase:
    where = f"{path}: cases[{index}]"
    if not isinstance(case, dict) or not isinstance(case.get("name"), str):
        raise UsageError(f"{where}: each case needs a name")
    expect = case.get("expect")
    if not isinstance(expect, dict) or not isinstance(expect.get("allow"), bool):
        raise UsageError(f"{where} ({case['name']}): expect.allow must be true or false")
    files = case.get("files")
    if not isinstance(files, list) or not files:
        raise UsageError(f"{where} ({case['name']}): files must list at least one path")
    requester = None
    if isinstance(case.get("requester"), dict):
        who = case["requester"]
        requester = Requester(str(who.get("username", "")), tuple(who.get("groups", [])))
    now = case.get("now")
    return SuiteCase(
        name=case["name"],
        files=tuple(path.parent / str(f) for f in files),
        now=_parse_time(now) if isinstance(now, str) else datetime.datetime.now(datetime.UTC),
        requester=requester,
        allow=expect["allow"],
        codes=frozenset(expect.get("codes", [])),
        obligations=dict(expect.get("obligations", {})),
    )


def _run_suite(args: argparse.Namespace) -> int:
    cases = load_suite(args.suite)
    assembled: list[tuple[SuiteCase, Loaded, dict[str, Any]]] = []
    for case in cases:
        objects = load_objects(case.files)
        jobs = [o for o in objects if o.kind == "TrainingJob"]
        if len(jobs) != 1:
            raise UsageError(
                f"suite case {case.name}: needs exactly one TrainingJob, got {len(jobs)}"
            )
        document, _ = assemble(jobs[0], objects, case.now, None)
        doc = document.document()
        if case.requester is not None:
            namespace = jobs[0].key[0]
            doc["requester"] = case.requester.document(namespace)
        assembled.append((case, jobs[0], doc))
    decisions = _evaluate([doc for _, _, doc in assembled], args)
    failures = 0
    results = []
    for (case, _, _), decision in zip(assembled, decisions, strict=True):
        problems = _compare(case, decision)
        failures += bool(problems)
        results.append({"name": case.name, "passed": not problems, "problems": problems})
        if args.output == "text":
            print(f"{'PASS' if not problems else 'FAIL'}  {case.name}")
            for problem in problems:
                print(f"      {problem}")
    if args.output == "json":
        print(json.dumps(results, indent=2))
    else:
        print(f"\n{len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


def _compare(case: SuiteCase, decision: Decision) -> list[str]:
    problems = []
    if decision.allowed != case.allow:
        problems.append(f"expected allow={case.allow}, got allow={decision.allowed}")
    codes = set(decision.codes)
    if codes != case.codes:
        problems.append(f"expected codes {sorted(case.codes)}, got {sorted(codes)}")
    actual = decision.as_status()["obligations"]
    for key, value in case.obligations.items():
        if actual.get(key) != value:
            problems.append(f"obligation {key}: expected {value!r}, got {actual.get(key)!r}")
    return problems
