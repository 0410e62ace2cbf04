package voxgate.grants_test

import data.voxgate.config
import data.voxgate.grants
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

_grant := _allowed.grants[0]

_codes(denials) := {denial.code | some denial in denials}

# The allowed sample with its grant changed by patch operations (paths relative to the grant).
_grant_patched(ops) := json.patch(_allowed, [op |
	some given in ops
	op := object.union(given, {"path": array.concat(["grants", 0], given.path)})
])

_with_grants(list) := json.patch(_allowed, [testing.put("/grants", list)])

_renamed(grant, name, ops) := json.patch(grant, array.concat([testing.put("/metadata/name", name)], ops))

test_active_grant_is_usable_and_charged if {
	count(grants.deny) == 0 with input as _allowed
	grants.usable == {"team-asr-callcentre"} with input as _allowed
	grants.charge == "team-asr-callcentre" with input as _allowed
}

test_no_grant_for_the_namespace if {
	other := _grant_patched([testing.put(["spec", "grantee", "namespace"], "team-tts")])
	denials := grants.deny with input as other
	denials == {{
		"code": "NoActiveGrant",
		"message": concat("", [
			`no DataGrant for dataset speech-data/callcentre-en-2024-pseudo grants namespace "team-asr"; `,
			"ask the data steward to create and approve one",
		]),
	}}
	grants.charge == null with input as other
}

test_grant_for_another_dataset_does_not_count if {
	other := _grant_patched([testing.put(["spec", "datasetRef", "name"], "other-dataset")])
	_codes(grants.deny) == {"NoActiveGrant"} with input as other
}

test_grant_from_another_namespace_does_not_count if {
	# A grant only counts in the dataset's own namespace, where its steward keeps it.
	elsewhere := _grant_patched([testing.put(["metadata", "namespace"], "team-asr")])
	_codes(grants.deny) == {"NoActiveGrant"} with input as elsewhere
}

test_grant_ref_to_a_missing_grant if {
	named := json.patch(_allowed, [testing.add("/trainingJob/spec/grantRef", {"name": "nope"})])
	denials := grants.deny with input as named
	_codes(denials) == {"NoActiveGrant"}
	some denial in denials
	startswith(denial.message, concat("", [
		`DataGrant "nope" named in spec.grantRef does not exist `,
		"for dataset speech-data/callcentre-en-2024-pseudo",
	]))
}

test_grant_ref_selects_the_grant if {
	two := _with_grants([_grant, _renamed(_grant, "a-grant", [])])
	grants.charge == "a-grant" with input as two

	named := json.patch(two, [testing.add("/trainingJob/spec/grantRef", {"name": "team-asr-callcentre"})])
	grants.usable == {"team-asr-callcentre"} with input as named
	grants.charge == "team-asr-callcentre" with input as named
}

test_grant_ref_to_a_broken_grant_is_not_rescued_by_another if {
	expired := _renamed(_grant, "old-grant", [testing.put("/spec/expiresAt", "2025-02-01T00:00:00Z")])
	named := json.patch(_with_grants([_grant, expired]), [{
		"op": "add",
		"path": "/trainingJob/spec/grantRef",
		"value": {"name": "old-grant"},
	}])
	_codes(grants.deny) == {"GrantExpired"} with input as named
}

test_purpose_not_covered if {
	narrow := _grant_patched([testing.put(["spec", "purposes"], ["asr-evaluation"])])
	denials := grants.deny with input as narrow
	_codes(denials) == {"NoActiveGrant"}
	some denial in denials
	contains(denial.message, `the purpose "asr-training" for requester "system:serviceaccount:team-asr:asr-trainer"`)
	contains(denial.message, `grant "team-asr-callcentre" covers only [asr-evaluation]`)
}

test_service_account_not_covered if {
	notebook := json.patch(_allowed, [{"op": "replace", "path": "/requester", "value": {
		"username": "system:serviceaccount:team-asr:notebook",
		"groups": ["system:serviceaccounts"],
		"serviceAccount": "notebook",
	}}])
	denials := grants.deny with input as notebook
	_codes(denials) == {"NoActiveGrant"}
	some denial in denials
	contains(
		denial.message,
		`grant "team-asr-callcentre" is limited to the service accounts [asr-trainer] of namespace "team-asr"`,
	)
}

test_person_not_covered_by_a_service_account_grant if {
	person := json.patch(_allowed, [{"op": "replace", "path": "/requester", "value": {
		"username": "dana.lead@example.com",
		"groups": ["team-asr"],
		"serviceAccount": null,
	}}])
	_codes(grants.deny) == {"NoActiveGrant"} with input as person
	grants.covers_requester({"namespace": "team-asr"}, person.requester)
	not grants.covers_requester(_grant.spec.grantee, person.requester)
}

test_revoked if {
	denials := grants.deny with input as _grant_patched([testing.put(["spec", "revoked"], true)])
	denials == {{
		"code": "GrantRevoked",
		"message": `grant "team-asr-callcentre" was revoked; revocation is permanent, ask the data steward for a new grant`,
	}}
}

test_not_approved if {
	every ops in [
		[testing.put(["spec", "approved"], false)],
		[testing.remove(["spec", "approved"])],
	] {
		denials := grants.deny with input as _grant_patched(ops)
		_codes(denials) == {"GrantNotApproved"}
	}
}

test_approval_without_a_recorded_approver if {
	unrecorded := _grant_patched([testing.remove(["metadata", "annotations", "voxgate.io/approved-by"])])
	denials := grants.deny with input as unrecorded
	_codes(denials) == {"GrantNotApproved"}
	some denial in denials
	contains(denial.message, "no approver was recorded (annotation voxgate.io/approved-by)")
}

test_not_yet_valid if {
	early := json.patch(_allowed, [testing.put("/now", "2024-12-31T23:59:59Z")])
	denials := grants.deny with input as early
	denials == {{
		"code": "GrantNotYetValid",
		"message": concat("", [
			`grant "team-asr-callcentre" is valid only from 2025-01-01T00:00:00Z; `,
			"wait until then or ask the data steward to move validFrom",
		]),
	}}
}

test_expired_at_the_instant if {
	late := json.patch(_allowed, [testing.put("/now", "2025-12-31T23:59:59Z")])
	_codes(grants.deny) == {"GrantExpired"} with input as late
}

test_every_shared_reason_is_reported if {
	both := json.patch(_grant_patched([testing.put(["spec", "revoked"], true)]), [{
		"op": "replace",
		"path": "/now",
		"value": "2026-01-01T00:00:00Z",
	}])
	_codes(grants.deny) == {"GrantExpired", "GrantRevoked"} with input as both
}

test_different_reasons_are_no_active_grant if {
	revoked := _renamed(_grant, "revoked-grant", [testing.put("/spec/revoked", true)])
	expired := _renamed(_grant, "expired-grant", [testing.put("/spec/expiresAt", "2025-02-01T00:00:00Z")])
	denials := grants.deny with input as _with_grants([revoked, expired])
	_codes(denials) == {"NoActiveGrant"}
	some denial in denials
	startswith(denial.message, "no usable DataGrant for dataset speech-data/callcentre-en-2024-pseudo: ")
	contains(denial.message, `grant "expired-grant" expired at 2025-02-01T00:00:00Z`)
	contains(denial.message, `grant "revoked-grant" was revoked`)
}

test_one_usable_grant_is_enough if {
	revoked := _renamed(_grant, "a-revoked-grant", [testing.put("/spec/revoked", true)])
	mixed := _with_grants([revoked, _grant])
	count(grants.deny) == 0 with input as mixed
	grants.charge == "team-asr-callcentre" with input as mixed
}

test_requester_approved_the_grant if {
	denials := grants.deny with input as data.samples.call_centre_self_approved
	_codes(denials) == {"SelfApprovedGrant"}
}

test_requester_approved_their_own_grant_request if {
	steward := _grant.metadata.annotations["voxgate.io/approved-by"]
	own := _grant_patched([testing.put(["metadata", "annotations", "voxgate.io/requested-by"], steward)])
	denials := grants.deny with input as own
	denials == {{
		"code": "SelfApprovedGrant",
		"message": concat("", [
			`grant "team-asr-callcentre" was requested and approved by the same person ("sam.steward@example.com"); `,
			"a second data steward must approve it",
		]),
	}}
	one_person := json.patch(config, [testing.put("/grants/twoPersonApproval", false)])
	count(grants.deny) == 0 with input as own with config as one_person
}

test_institution_not_consented if {
	university := _grant_patched([testing.put(["spec", "grantee", "institution"], "Example University")])
	denials := grants.deny with input as university
	denials == {{
		"code": "InstitutionNotConsented",
		"message": concat("", [
			`grant "team-asr-callcentre" is for institution "Example University" but the speakers of dataset `,
			"speech-data/callcentre-en-2024-pseudo consented only to [Example Telecom]; ",
			"the data steward must grant to a consented institution",
		]),
	}}

	anonymous := _grant_patched([testing.remove(["spec", "grantee", "institution"])])
	_codes(grants.deny) == {"InstitutionNotConsented"} with input as anonymous

	any_institution := json.patch(anonymous, [testing.remove("/dataset/spec/consent/institutions")])
	count(grants.deny) == 0 with input as any_institution
}

test_grant_budget_exceeded if {
	denials := grants.deny with input as data.samples.call_centre_budget_exhausted
	denials == {{
		"code": "GrantBudgetExceeded",
		"message": concat("", [
			`the job would spend epsilon 2.689 but grant "team-asr-callcentre" has 1 of its 6 left; `,
			"lower the job's epsilon (more noise, fewer steps or a lower sampleRate) or ask for a larger allowance",
		]),
	}}
}

test_remaining_allowance if {
	grants.remaining(_grant, {"team-asr-callcentre": {"epsilonUsed": 2, "epsilonReserved": 1.5}}) == 2.5
	grants.remaining(_grant, {"team-asr-callcentre": {"epsilonUsed": 2}}) == 4
	grants.remaining(_grant, {}) == 6
}

test_job_without_dp_is_not_charged if {
	no_dp := json.patch(data.samples.call_centre_budget_exhausted, [
		testing.remove("/trainingJob/spec/privacy"),
		testing.put("/privacy", {"epsilon": null, "delta": null}),
	])
	count(grants.deny) == 0 with input as no_dp
}

# --- the composed figure (ledger.grants[<grant>].epsilonAfter) --------------------------------

_composed := data.samples.call_centre_budget_composed

_own_after := ["ledger", "grants", "team-asr-callcentre", "epsilonAfter"]

test_composed_grant_figure_within_allowance_admits_what_the_standalone_check_would_deny if {
	# 1.026 of the allowance 6 is left, less than the job's own 2.689, but composed with the
	# grant's 4 committed runs the grant reaches only 5.632.
	count(grants.deny) == 0 with input as _composed
	grants.charge == "team-asr-callcentre" with input as _composed
	standalone := json.patch(_composed, [testing.remove(_own_after)])
	_codes(grants.deny) == {"GrantBudgetExceeded"} with input as standalone
}

test_composed_grant_figure_over_the_allowance_is_denied if {
	over := json.patch(_composed, [testing.put(_own_after, 6.241132984578334)])
	denials := grants.deny with input as over
	denials == {{
		"code": "GrantBudgetExceeded",
		"message": concat("", [
			"with this job (epsilon 2.689 on its own) the composed privacy loss charged to grant ",
			`"team-asr-callcentre" would be 6.241, over its allowance 6 (4.974 already used or reserved); `,
			"lower the job's epsilon (more noise, fewer steps or a lower sampleRate) or ask for a larger allowance",
		]),
	}}
	grants.charge == null with input as over
}

test_null_composed_grant_figure_falls_back_to_the_remaining_allowance if {
	unknown := json.patch(_composed, [testing.put(_own_after, null)])
	denials := grants.deny with input as unknown
	denials == {{
		"code": "GrantBudgetExceeded",
		"message": concat("", [
			`the job would spend epsilon 2.689 but grant "team-asr-callcentre" has 1.026 of its 6 left; `,
			"lower the job's epsilon (more noise, fewer steps or a lower sampleRate) or ask for a larger allowance",
		]),
	}}
}

test_each_grant_is_judged_by_its_own_figure if {
	# A second grant without a ledger entry has used nothing: the fallback leaves it all 6.
	fresh := _renamed(_composed.grants[0], "team-asr-callcentre-2", [])
	both := json.patch(_composed, [
		testing.add("/grants/-", fresh),
		testing.put(_own_after, 6.5),
	])
	count(grants.deny) == 0 with input as both
	grants.usable == {"team-asr-callcentre-2"} with input as both
	grants.charge == "team-asr-callcentre-2" with input as both
}

test_composed_grant_figure_is_never_below_what_is_committed if {
	grant := _composed.grants[0]
	usage := {"team-asr-callcentre": {"epsilonUsed": 4, "epsilonReserved": 1, "epsilonAfter": 3}}
	grants.composed_after(grant, usage) == 5
	grants.composed_after(grant, {"team-asr-callcentre": {"epsilonUsed": 4, "epsilonAfter": 5.5}}) == 5.5
	not grants.composed_after(grant, {"team-asr-callcentre": {"epsilonUsed": 4, "epsilonAfter": null}})
	not grants.composed_after(grant, {})
}
