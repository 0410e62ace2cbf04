"""The policy client against a real OPA server that misbehaves: every failure is a denial."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from voxgate.devcluster.opa import OpaServer
from voxgate.policy import POLICY_UNAVAILABLE
from voxgate.policy.client import PolicyClient

pytestmark = pytest.mark.integration

WELL_FORMED = """
package voxgate.admission

obligations := {
    "requireDP": true, "maxEpsilon": 1, "credentialTTLSeconds": 600,
    "egress": {"mode": "deny"}, "memoryOnlyData": true, "maxWorkers": 2,
}

decision := {"allow": true, "denials": [], "obligations": obligations} if input.ok == true

denied := [{"code": "NotOk", "message": "set ok"}]

decision := {"allow": false, "denials": denied, "obligations": obligations} if input.ok == false
"""

# About ten million iterations: seconds of work for OPA, far past the client's deadline.
SLOW = """
package voxgate.admission

decision := {"allow": n > 0, "denials": [], "obligations": {}} if {
    n := count([1 | some i in numbers.range(1, 3200); some j in numbers.range(1, 3200); i * j == 7])
}
"""

MALFORMED = """
package voxgate.admission

decision := {"allow": "yes", "denials": [], "obligations": {}}
"""

UNDEFINED = """
package voxgate.admission

decision := true if input.never_set == 42
"""


async def test_well_formed_decision_carries_revision_and_id(
    opa_with_policy: Callable[[str], OpaServer],
) -> None:
    server = opa_with_policy(WELL_FORMED)
    async with PolicyClient(server.url) as client:
        allowed = await client.decide({"ok": True})
        denied = await client.decide({"ok": False})
    assert allowed.allowed and allowed.obligations.max_workers == 2
    assert denied.codes == ("NotOk",)
    assert allowed.policy_revision == server.revision
    assert allowed.decision_id and allowed.decision_id != denied.decision_id


async def test_stopped_opa_denies_every_decision(
    opa_with_policy: Callable[[str], OpaServer],
) -> None:
    server = opa_with_policy(WELL_FORMED)
    async with PolicyClient(server.url, timeout=1.0) as client:
        assert (await client.decide({"ok": True})).allowed
        server.stop()
        for _ in range(3):
            decision = await client.decide({"ok": True})
            assert not decision.allowed
            assert decision.codes == (POLICY_UNAVAILABLE,)


async def test_slow_opa_is_a_denial_within_the_timeout(
    opa_with_policy: Callable[[str], OpaServer],
) -> None:
    server = opa_with_policy(SLOW)
    timeout = 0.3
    async with PolicyClient(server.url, timeout=timeout) as client:
        begin = time.perf_counter()
        decision = await client.decide({})
        elapsed = time.perf_counter() - begin
    assert decision.codes == (POLICY_UNAVAILABLE,)
    assert "no answer within 0.3s" in decision.denials[0].message
    assert elapsed <= timeout + 0.1


@pytest.mark.parametrize(
    ("rego", "reason"), [(MALFORMED, "allow must be a boolean"), (UNDEFINED, "undefined")]
)
async def test_malformed_or_undefined_decision_is_a_denial(
    opa_with_policy: Callable[[str], OpaServer], rego: str, reason: str
) -> None:
    server = opa_with_policy(rego)
    async with PolicyClient(server.url) as client:
        decision = await client.decide({})
    assert not decision.allowed
    assert decision.codes == (POLICY_UNAVAILABLE,)
    assert reason in decision.denials[0].message


async def test_unreachable_url_is_a_denial() -> None:
    async with PolicyClient("http://127.0.0.1:9", timeout=0.5) as client:
        decision = await client.decide({})
    assert decision.codes == (POLICY_UNAVAILABLE,)
