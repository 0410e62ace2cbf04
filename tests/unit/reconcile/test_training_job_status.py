from __future__ import annotations

import datetime
from typing import Any

from voxgate.policy import Decision, Denial, Obligations
from voxgate.reconcile.trainingjob import World, credentials_expire_at, denied_status

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


def _job(deadline: int = 86400) -> dict[str, Any]:
    return {
        "metadata": {"name": "j", "namespace": "team", "generation": 1, "uid": "u"},
        "spec": {"activeDeadlineSeconds": deadline, "privacy": {"delta": 1e-5}},
    }


def _decision(allowed: bool, grant: str | None = "g") -> Decision:
    denials = (
        ()
        if allowed
        else (Denial("DPRequired", "set spec.privacy"), Denial("NoActiveGrant", "ask"))
    )
    return Decision(allowed, denials, Obligations(), "sha256:r", "d1", {"chargeGrant": grant})


def test_credentials_never_outlive_the_grant_or_the_consent() -> None:
    grant = {"metadata": {"name": "g"}, "spec": {"expiresAt": "2030-01-01T06:00:00Z"}}
    dataset = {"spec": {"consent": {"expiresAt": "2030-01-01T03:00:00Z"}}}
    world = World(dataset=dataset, grants=(grant,))
    assert credentials_expire_at(_job(), world, _decision(True), NOW).hour == 3
    no_consent = World(dataset={"spec": {}}, grants=(grant,))
    assert credentials_expire_at(_job(), no_consent, _decision(True), NOW).hour == 6
    short = credentials_expire_at(_job(deadline=3600), no_consent, _decision(True), NOW)
    assert short == NOW + datetime.timedelta(hours=1)


def test_denied_status_lists_every_reason_and_uses_the_first_as_reason() -> None:
    status = denied_status(_job(), _decision(False), 0.7, NOW)
    assert status["phase"] == "Denied"
    assert status["reason"] == "DPRequired"
    assert [d["code"] for d in status["decision"]["denials"]] == ["DPRequired", "NoActiveGrant"]
    assert status["privacy"] == {"epsilon": 0.7, "delta": 1e-5, "charged": False}
    admitted = status["conditions"][0]
    assert (admitted["type"], admitted["status"], admitted["reason"]) == (
        "Admitted",
        "False",
        "DPRequired",
    )
