package voxgate.admission_test

import data.voxgate.admission
import data.voxgate.config
import data.voxgate.testing

_codes(decision) := [denial.code | some denial in decision.denials]

test_samples if {
	every name, want in {
		"call_centre_allowed": [],
		"call_centre_budget_composed": [],
		"call_centre_budget_exhausted": ["DatasetBudgetExceeded", "GrantBudgetExceeded"],
		"call_centre_expired": ["ConsentExpired", "GrantExpired"],
		"call_centre_self_approved": ["SelfApprovedGrant"],
		"derived_consent_widened": ["DerivedConsentWidened", "DerivedConsentWidened", "DerivedConsentWidened"],
		"malformed": ["InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput"],
		"raw_without_dp": [
			"DPRequired", "ImageNotPinned", "RegistryNotApproved",
			"ResourcesExceedTierCap", "ResourcesExceedTierCap", "ResourcesExceedTierCap", "ResourcesExceedTierCap",
			"WorkersExceedTierCap",
		],
	} {
		decision := admission.decision with input as data.samples[name]
		_codes(decision) == want
		allowed := want == []
		decision.allow == allowed
	}
}

test_allowed_call_centre_job if {
	decision := admission.decision with input as data.samples.call_centre_allowed
	decision.allow == true
	decision.denials == []
	decision.obligations.chargeGrant == "team-asr-callcentre"
	decision.obligations.requireDP == true
	decision.obligations.egress == {"mode": "deny"}
}

test_denied_decision_still_has_obligations_but_charges_nothing if {
	decision := admission.decision with input as data.samples.call_centre_self_approved
	decision.allow == false
	decision.obligations.tier == "pseudonymized"
	decision.obligations.credentialTTLSeconds == 1800
	decision.obligations.chargeGrant == null
}

test_denials_are_sorted_by_code_then_message if {
	decision := admission.decision with input as data.samples.raw_without_dp
	decision.denials == sort(decision.denials)
	messages := [denial.message | some denial in decision.denials; denial.code == "ResourcesExceedTierCap"]
	messages == sort(messages)
}

test_decision_is_always_defined if {
	every doc in [null, true, 0, "", [], {}, {"trainingJob": {}}, {"dataset": {"spec": {"tier": "synthetic"}}}] {
		decision := admission.decision with input as doc
		decision.allow == false
		_codes(decision)[0] == "InvalidInput"
		decision.obligations.tier in {"raw", "synthetic"}
	}
}

test_decision_without_any_input_is_a_denial if {
	decision := admission.decision
	decision.allow == false
	_codes(decision) == ["InvalidInput"]
	decision.obligations.tier == "raw"
}

test_invalid_input_hides_other_denials if {
	# Also asks for a purpose the tier does not permit; only the malformed field is reported.
	invalid := json.patch(data.samples.call_centre_allowed, [
		testing.put("/trainingJob/spec/purpose", "tts-training"),
		testing.put("/now", "now"),
	])
	decision := admission.decision with input as invalid
	_codes(decision) == ["InvalidInput"]
}

test_broken_policy_data_is_a_denial if {
	decision := admission.decision with input as data.samples.call_centre_allowed
		with config as json.patch(config, [testing.put("/tiers/pseudonymized", {"purposes": ["asr-training"]})])
	decision.allow == false
	"PolicyDataInvalid" in _codes(decision)
	decision.obligations == {"chargeGrant": null}
}

test_broken_policy_data_is_reported_with_invalid_input if {
	no_fallback := json.patch(config, [testing.put("/fallbackTier", "missing")])
	decision := admission.decision with input as {} with config as no_fallback
	"PolicyDataInvalid" in _codes(decision)
	"InvalidInput" in _codes(decision)
	some denial in decision.denials
	denial.code == "PolicyDataInvalid"
	startswith(denial.message, `the policy data has no complete controls for tier "missing"`)
}

test_policy_data_invalid_without_a_fallback_tier if {
	decision := admission.decision with input as {} with config as object.remove(config, ["fallbackTier"])
	some denial in decision.denials
	denial.code == "PolicyDataInvalid"
	startswith(denial.message, `the policy data has no complete controls for tier "(none)"`)
}
