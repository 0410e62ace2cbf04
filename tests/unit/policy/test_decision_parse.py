from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from voxgate.policy import POLICY_UNAVAILABLE, MalformedDecision, parse_decision, unavailable
from voxgate.policy.revision import policy_revision

OBLIGATIONS: dict[str, Any] = {
    "requireDP": True,
    "maxEpsilon": 2.5,
    "credentialTTLSeconds": 900,
    "egress": {"mode": "deny"},
    "memoryOnlyData": True,
    "maxWorkers": 4,
}
DENIED: dict[str, Any] = {
    "allow": False,
    "denials": [
        {"code": "DPRequired", "message": "set spec.privacy"},
        {"code": "RegistryNotApproved", "message": "use registry.example.org"},
    ],
    "obligations": OBLIGATIONS,
}


def _parse(document: object) -> Any:
    return parse_decision(document, policy_revision="sha256:abc", decision_id="d-1")


def test_allowed_decision_parses_with_its_obligations() -> None:
    decision = _parse({"allow": True, "denials": [], "obligations": OBLIGATIONS})
    assert decision.allowed
    assert decision.obligations.max_epsilon == 2.5
    assert decision.obligations.credential_ttl_seconds == 900
    assert decision.obligations.egress.mode == "deny"
    assert decision.as_status()["obligations"] == OBLIGATIONS
    assert decision.as_status()["policyRevision"] == "sha256:abc"


def test_denied_decision_keeps_every_denial_in_order() -> None:
    decision = _parse(DENIED)
    assert not decision.allowed
    assert decision.codes == ("DPRequired", "RegistryNotApproved")


def test_allow_list_egress_keeps_its_endpoints() -> None:
    document = copy.deepcopy(DENIED)
    document["obligations"]["egress"] = {"mode": "allowList", "endpoints": ["hub.example.org:443"]}
    assert _parse(document).obligations.egress.endpoints == ("hub.example.org:443",)


ALLOWED: dict[str, Any] = {"allow": True, "denials": [], "obligations": OBLIGATIONS}


def _mutated(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    # Obligations are checked strictly only when the job is admitted: mutate an allowed decision.
    document = copy.deepcopy(ALLOWED if path[0] == "obligations" else DENIED)
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


_DELETE = object()

MALFORMED = [
    ("allow missing", ("allow",), _DELETE, "allow must be a boolean"),
    ("allow a string", ("allow",), "false", "allow must be a boolean"),
    ("allow true with denials", ("allow",), True, "allow is true but denials"),
    ("allow true without obligations", ("obligations",), None, "obligations must be an object"),
    ("denials not a list", ("denials",), {"code": "X"}, "denials must be a list"),
    ("denial without code", ("denials", 0, "code"), _DELETE, "code must be a CamelCase"),
    ("lower-case code", ("denials", 0, "code"), "dpRequired", "code must be a CamelCase"),
    ("empty message", ("denials", 1, "message"), "", "message must be a non-empty"),
    ("obligations missing", ("obligations",), _DELETE, "obligations must be an object"),
    ("TTL as a boolean", ("obligations", "credentialTTLSeconds"), True, "credentialTTLSeconds"),
    ("TTL zero", ("obligations", "credentialTTLSeconds"), 0, "must be positive"),
    ("negative epsilon", ("obligations", "maxEpsilon"), -1, "maxEpsilon"),
    ("infinite epsilon", ("obligations", "maxEpsilon"), float("inf"), "maxEpsilon"),
    ("unknown egress mode", ("obligations", "egress", "mode"), "open", "egress.mode"),
    ("requireDP a string", ("obligations", "requireDP"), "yes", "requireDP"),
]


@pytest.mark.parametrize(
    ("path", "value", "match"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_decisions_are_rejected(
    path: tuple[str | int, ...], value: object, match: str
) -> None:
    with pytest.raises(MalformedDecision, match=match):
        _parse(_mutated(path, value))


def test_denied_decision_with_incomplete_obligations_keeps_its_denials() -> None:
    decision = _parse(
        {"allow": False, "denials": DENIED["denials"], "obligations": {"chargeGrant": None}}
    )
    assert decision.codes == ("DPRequired", "RegistryNotApproved")
    assert decision.obligations.egress.mode == "deny" and decision.obligations.max_epsilon == 0.0


def test_null_max_epsilon_means_no_per_job_cap() -> None:
    document = _mutated(("obligations", "maxEpsilon"), None)
    assert _parse(document).obligations.max_epsilon is None


def test_allow_false_without_a_reason_is_malformed() -> None:
    with pytest.raises(MalformedDecision, match="no denial says why"):
        _parse({"allow": False, "denials": [], "obligations": OBLIGATIONS})


@pytest.mark.parametrize("document", [None, [], "allow", 1])
def test_non_object_decision_is_malformed(document: object) -> None:
    with pytest.raises(MalformedDecision):
        _parse(document)


def test_unavailable_is_a_denial_with_the_strictest_obligations() -> None:
    decision = unavailable("timeout", decision_id="d-2")
    assert not decision.allowed
    assert decision.codes == (POLICY_UNAVAILABLE,)
    assert decision.obligations.require_dp and decision.obligations.memory_only_data
    assert decision.obligations.max_epsilon == 0.0
    assert decision.obligations.egress.mode == "deny"


def test_revision_tracks_policies_and_data_but_not_tests(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "policy.rego").write_text("package a\n")
    (tmp_path / "a" / "data.json").write_text('{"x": 1}')
    first = policy_revision(tmp_path)
    assert first.startswith("sha256:") and len(first) == 7 + 64
    (tmp_path / "a" / "policy_test.rego").write_text("package a_test\n")
    (tmp_path / "testing").mkdir()
    (tmp_path / "testing" / "patch.rego").write_text("package testing\n")
    (tmp_path / "a" / "input.json").write_text("{}")
    (tmp_path / ".regal").mkdir()
    (tmp_path / ".regal" / "config.yaml").write_text("rules: {}\n")
    assert policy_revision(tmp_path) == first
    (tmp_path / "a" / "data.json").write_text('{"x": 2}')
    assert policy_revision(tmp_path) != first
