"""Evaluating the decision with the `opa` binary, no server: what `voxgate check` uses offline.

Same policies, same query, same parser as the server path; failures are denials here too.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voxgate.policy.decision import Decision, MalformedDecision, parse_decision, unavailable
from voxgate.policy.revision import BUNDLE_EXCLUDES, policy_revision

QUERY = "data.voxgate.admission.decision"
# One `opa eval` compiles the bundle once and evaluates every input: compiling is most of the cost.
BATCH_QUERY = f"[d | some doc in input.documents; d := {QUERY} with input as doc]"


def evaluate_many(
    opa: Path, policy_dir: Path, documents: Sequence[dict[str, Any]], *, timeout: float = 60.0
) -> list[Decision]:
    revision = policy_revision(policy_dir)
    ignores = [f"--ignore={pattern}" for pattern in BUNDLE_EXCLUDES]
    try:
        result = subprocess.run(
            [str(opa), "eval", "--bundle", str(policy_dir), *ignores, "--format=json",
             "--stdin-input", BATCH_QUERY],
            input=json.dumps({"documents": list(documents)}),
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return [_failed(f"opa eval failed: {type(error).__name__}", revision)] * len(documents)
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        first = reason[0] if reason else f"exit code {result.returncode}"
        return [_failed(f"opa eval failed: {first}", revision)] * len(documents)
    try:
        values = json.loads(result.stdout)["result"][0]["expressions"][0]["value"]
    except (ValueError, KeyError, IndexError, TypeError):
        return [_failed("opa eval gave no result", revision)] * len(documents)
    if not isinstance(values, list) or len(values) != len(documents):
        # A document whose decision is undefined drops out of the comprehension; without
        # knowing which, every decision in the batch fails closed.
        return [_failed("a decision was undefined", revision)] * len(documents)
    decisions = []
    for value in values:
        decision_id = uuid.uuid4().hex
        try:
            decisions.append(
                parse_decision(value, policy_revision=revision, decision_id=decision_id)
            )
        except MalformedDecision as error:
            decisions.append(_failed(str(error), revision, decision_id))
    return decisions


def _failed(reason: str, revision: str, decision_id: str = "") -> Decision:
    return unavailable(
        reason, policy_revision=revision, decision_id=decision_id or uuid.uuid4().hex
    )
