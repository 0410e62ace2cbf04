"""The mutating webhook's stamps: from the request identity only, never from what a user wrote."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voxgate.admission import (
    APPROVED_BY,
    REQUESTED_BY,
    REVOKED_BY,
    Identity,
    InvalidUserInfo,
    ObjectChange,
    annotation_changes,
    with_requester,
)

ALICE = Identity("alice@example.org", ("team-asr", "system:authenticated"))
CAROL = Identity("carol@example.org", ("voxgate-stewards", "system:authenticated"))


def grant(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "voxgate.io/v1alpha1",
        "kind": "DataGrant",
        "metadata": {"name": "g", "namespace": "data", "annotations": annotations or {}},
        "spec": {"approved": False, "revoked": False, **spec},
    }


def job(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "j", "namespace": "team"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "voxgate.io/v1alpha1", "kind": "TrainingJob", "metadata": meta}


def test_identity_stamp_is_the_documented_json() -> None:
    assert (
        ALICE.stamp()
        == '{"username":"alice@example.org","groups":["team-asr","system:authenticated"]}'
    )
    assert json.loads(ALICE.stamp()) == {"username": ALICE.username, "groups": list(ALICE.groups)}


def test_identity_from_user_info_and_back_from_the_annotation() -> None:
    user = Identity.from_user_info({"username": "bob", "uid": "1", "groups": ["g"], "extra": {}})
    assert user == Identity("bob", ("g",))
    assert Identity.from_annotation(job({REQUESTED_BY: user.stamp()}), REQUESTED_BY) == user
    assert Identity.from_user_info({"username": "anon"}) == Identity("anon", ())


@pytest.mark.parametrize(
    "info", [None, {}, {"username": ""}, {"username": 3}, {"username": "x", "groups": "g"}]
)
def test_unusable_user_info_is_refused(info: dict[str, Any] | None) -> None:
    with pytest.raises(InvalidUserInfo, match=r"^[^\n]+$"):
        Identity.from_user_info(info)


@pytest.mark.parametrize("raw", ["not json", "[1]", '{"groups": []}', '{"username": ""}'])
def test_unreadable_annotations_are_no_identity(raw: str) -> None:
    assert Identity.from_annotation(job({REQUESTED_BY: raw}), REQUESTED_BY) is None
    assert Identity.from_annotation(job(), REQUESTED_BY) is None


def test_create_stamps_the_requester_over_a_forged_one() -> None:
    forged = Identity("mallory", ("voxgate-stewards",)).stamp()
    change = ObjectChange("CREATE", job({REQUESTED_BY: forged}), None, ALICE)
    assert annotation_changes(change) == {REQUESTED_BY: ALICE.stamp()}


def test_create_without_annotations_adds_the_stamp() -> None:
    assert annotation_changes(ObjectChange("CREATE", job(), None, ALICE)) == {
        REQUESTED_BY: ALICE.stamp()
    }


def test_nothing_to_change_when_the_stamp_is_already_right() -> None:
    change = ObjectChange("CREATE", job({REQUESTED_BY: ALICE.stamp()}), None, ALICE)
    assert annotation_changes(change) == {}


def test_update_keeps_the_original_requester_whoever_updates() -> None:
    old = job({REQUESTED_BY: ALICE.stamp()})
    new = job({REQUESTED_BY: CAROL.stamp()})
    assert annotation_changes(ObjectChange("UPDATE", new, old, CAROL)) == {
        REQUESTED_BY: ALICE.stamp()
    }
    removed = job({})
    assert annotation_changes(ObjectChange("UPDATE", removed, old, ALICE)) == {
        REQUESTED_BY: ALICE.stamp()
    }


def test_update_of_an_unstamped_object_cannot_add_a_requester() -> None:
    change = ObjectChange("UPDATE", job({REQUESTED_BY: ALICE.stamp()}), job({}), ALICE)
    assert annotation_changes(change) == {REQUESTED_BY: None}


def test_trainingjob_keeps_other_annotations_alone() -> None:
    change = ObjectChange("CREATE", job({APPROVED_BY: "x", "team": "asr"}), None, ALICE)
    assert annotation_changes(change) == {REQUESTED_BY: ALICE.stamp()}


def test_grant_creation_drops_forged_approver_and_revoker() -> None:
    new = grant({APPROVED_BY: CAROL.stamp(), REVOKED_BY: CAROL.stamp()})
    assert annotation_changes(ObjectChange("CREATE", new, None, ALICE)) == {
        REQUESTED_BY: ALICE.stamp(),
        APPROVED_BY: None,
        REVOKED_BY: None,
    }


def test_grant_created_approved_is_stamped_as_approved_by_its_creator() -> None:
    changes = annotation_changes(ObjectChange("CREATE", grant(approved=True), None, ALICE))
    assert changes == {REQUESTED_BY: ALICE.stamp(), APPROVED_BY: ALICE.stamp()}


def test_approving_stamps_the_approver() -> None:
    old = grant({REQUESTED_BY: ALICE.stamp()})
    new = grant({REQUESTED_BY: ALICE.stamp(), APPROVED_BY: ALICE.stamp()}, approved=True)
    assert annotation_changes(ObjectChange("UPDATE", new, old, CAROL)) == {
        APPROVED_BY: CAROL.stamp()
    }


def test_while_approved_the_recorded_approver_stays() -> None:
    old = grant({REQUESTED_BY: ALICE.stamp(), APPROVED_BY: CAROL.stamp()}, approved=True)
    new = grant({REQUESTED_BY: ALICE.stamp(), APPROVED_BY: ALICE.stamp()}, approved=True)
    assert annotation_changes(ObjectChange("UPDATE", new, old, ALICE)) == {
        APPROVED_BY: CAROL.stamp()
    }


def test_withdrawing_approval_removes_the_approver() -> None:
    old = grant({REQUESTED_BY: ALICE.stamp(), APPROVED_BY: CAROL.stamp()}, approved=True)
    new = grant({REQUESTED_BY: ALICE.stamp(), APPROVED_BY: CAROL.stamp()}, approved=False)
    assert annotation_changes(ObjectChange("UPDATE", new, old, ALICE)) == {APPROVED_BY: None}


def test_revoking_stamps_the_revoker_and_keeps_it() -> None:
    stamps = {REQUESTED_BY: ALICE.stamp(), APPROVED_BY: CAROL.stamp()}
    old = grant(stamps, approved=True)
    revoked = grant(stamps, approved=True, revoked=True)
    assert annotation_changes(ObjectChange("UPDATE", revoked, old, CAROL)) == {
        REVOKED_BY: CAROL.stamp()
    }
    later_old = grant({**stamps, REVOKED_BY: CAROL.stamp()}, approved=True, revoked=True)
    later_new = grant({**stamps, REVOKED_BY: ALICE.stamp()}, approved=True, revoked=True)
    assert annotation_changes(ObjectChange("UPDATE", later_new, later_old, ALICE)) == {
        REVOKED_BY: CAROL.stamp()
    }


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT", ""])
def test_other_operations_change_nothing(operation: str) -> None:
    assert annotation_changes(ObjectChange(operation, job({REQUESTED_BY: "x"}), None, ALICE)) == {}


def test_with_requester_returns_a_stamped_copy() -> None:
    original = job({REQUESTED_BY: "forged", "keep": "me"})
    stamped = with_requester(original, ALICE)
    assert stamped["metadata"]["annotations"] == {REQUESTED_BY: ALICE.stamp(), "keep": "me"}
    assert original["metadata"]["annotations"][REQUESTED_BY] == "forged"
    assert with_requester(job(), ALICE)["metadata"]["annotations"] == {REQUESTED_BY: ALICE.stamp()}
