package voxgate.privacy_test

import data.voxgate.config
import data.voxgate.privacy
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

_codes(denials) := {denial.code | some denial in denials}

_without_dp := json.patch(_allowed, [
	testing.remove("/trainingJob/spec/privacy"),
	testing.put("/privacy", {"epsilon": null, "delta": null}),
])

test_dp_job_within_limits_is_not_denied if {
	count(privacy.deny) == 0 with input as _allowed
}

test_dp_required_on_sensitive_tiers if {
	denials := privacy.deny with input as _without_dp
	denials == {{
		"code": "DPRequired",
		"message": concat("", [
			"pseudonymized-tier datasets may only be trained with differential privacy; ",
			"set spec.privacy (noiseMultiplier, maxGradNorm, sampleRate, steps and delta) to train with DP-SGD",
		]),
	}}
}

test_dp_not_required_on_synthetic if {
	synthetic := json.patch(_without_dp, [testing.put("/dataset/spec/tier", "synthetic")])
	count(privacy.deny) == 0 with input as synthetic
}

test_noise_too_low if {
	quiet := json.patch(_allowed, [testing.put("/trainingJob/spec/privacy/noiseMultiplier", 0.7)])
	denials := privacy.deny with input as quiet
	denials == {{
		"code": "NoiseTooLow",
		"message": concat("", [
			"spec.privacy.noiseMultiplier 0.7 is below the minimum 0.8 for pseudonymized-tier datasets; ",
			"raise it to at least 0.8",
		]),
	}}
}

test_no_noise_minimum_where_the_tier_sets_none if {
	quiet := json.patch(_allowed, [
		testing.put("/trainingJob/spec/privacy/noiseMultiplier", 0.3),
		testing.put("/dataset/spec/tier", "features"),
	])
	count(privacy.deny) == 0 with input as quiet
}

test_epsilon_over_the_tier_limit if {
	costly := json.patch(_allowed, [testing.put("/privacy/epsilon", 3.0001)])
	denials := privacy.deny with input as costly
	_codes(denials) == {"EpsilonExceedsTierLimit"}
	some denial in denials
	startswith(denial.message, concat("", [
		"the job would spend epsilon 3 but one job on a pseudonymized-tier dataset ",
		"may spend at most 3;",
	]))
}

test_no_tier_limit_when_null if {
	costly := json.patch(_allowed, [testing.put("/privacy/epsilon", 4)])
	unlimited := json.patch(config, [testing.put("/tiers/pseudonymized/maxEpsilonPerJob", null)])
	count(privacy.deny) == 0 with input as costly with config as unlimited
}

test_dataset_budget_exceeded if {
	denials := privacy.deny with input as data.samples.call_centre_budget_exhausted
	_codes(denials) == {"DatasetBudgetExceeded"}
	some denial in denials
	contains(denial.message, `dataset "callcentre-en-2024-pseudo" has 1.5 of its budget 10 left`)
}

test_inconsistent_ledger_only_makes_it_stricter if {
	# The ledger claims 5.8 left, but 10 - 3.2 - 5 = 1.8 is all that can be.
	stale := json.patch(_allowed, [testing.put("/ledger/epsilonReserved", 5)])
	_codes(privacy.deny) == {"DatasetBudgetExceeded"} with input as stale
	abs(privacy.dataset_remaining(stale.ledger) - 1.8) < 0.000001
}

test_budget_exactly_used_up_is_allowed if {
	exact := json.patch(_allowed, [testing.put("/ledger/epsilonRemaining", 2.6889476416191362)])
	count(privacy.deny) == 0 with input as exact
}

test_delta_larger_than_the_budget_delta if {
	loose := json.patch(_allowed, [
		testing.put("/trainingJob/spec/privacy/delta", 0.0001),
		testing.put("/privacy/delta", 0.0001),
	])
	denials := privacy.deny with input as loose
	_codes(denials) == {"DeltaExceedsDatasetBudget"}
	some denial in denials
	endswith(denial.message, "set it to at most 1e-05")
}

# --- the composed figure (ledger.epsilonAfter) ------------------------------------------------

_composed := data.samples.call_centre_budget_composed

test_composed_figure_within_budget_admits_what_the_standalone_check_would_deny if {
	# 0.685 left is less than the job's own 2.689, but composed with the 12 committed runs the
	# dataset reaches only 9.766 of its 10.
	count(privacy.deny) == 0 with input as _composed
	standalone := json.patch(_composed, [testing.remove("/ledger/epsilonAfter")])
	_codes(privacy.deny) == {"DatasetBudgetExceeded"} with input as standalone
}

test_composed_figure_over_budget_is_denied if {
	over := json.patch(_composed, [testing.put("/ledger/epsilonAfter", 10.2049080105712)])
	denials := privacy.deny with input as over
	denials == {{
		"code": "DatasetBudgetExceeded",
		"message": concat("", [
			"with this job (epsilon 2.689 on its own) the composed privacy loss of dataset ",
			`"callcentre-en-2024-pseudo" would be 10.205, over its budget 10 (9.315 already spent or reserved); `,
			"spend less (more noise, fewer steps, lower sampleRate); spent privacy budget is never refunded",
		]),
	}}
}

test_composed_figure_exactly_at_the_budget_is_allowed if {
	exact := json.patch(_composed, [testing.put("/ledger/epsilonAfter", 10)])
	count(privacy.deny) == 0 with input as exact
}

test_composed_figure_is_used_even_when_the_standalone_check_passes if {
	# The ledger composes with RDP; a PLD-priced job can cost more there than on its own.
	fresh := json.patch(_allowed, [testing.add("/ledger/epsilonAfter", 10.5)])
	_codes(privacy.deny) == {"DatasetBudgetExceeded"} with input as fresh
}

test_null_composed_figure_falls_back_to_the_remaining_budget if {
	unknown := json.patch(_composed, [testing.put("/ledger/epsilonAfter", null)])
	denials := privacy.deny with input as unknown
	denials == {{
		"code": "DatasetBudgetExceeded",
		"message": concat("", [
			`the job would spend epsilon 2.689 but dataset "callcentre-en-2024-pseudo" has 0.685 of its budget 10 left; `,
			"spend less (more noise, fewer steps, lower sampleRate); spent privacy budget is never refunded",
		]),
	}}
}

test_composed_figure_below_what_is_committed_only_makes_it_stricter if {
	# 9.2 with the job added cannot be: 9.315 is committed already. The committed figure counts.
	low := json.patch(_composed, [testing.put("/ledger/epsilonAfter", 9.2)])
	abs(privacy.dataset_after(low.ledger) - 9.315268966127885) < 0.000001
	full := json.patch(low, [testing.put("/ledger/epsilonReserved", 1.7)])
	_codes(privacy.deny) == {"DatasetBudgetExceeded"} with input as full
}

test_composed_figure_is_ignored_for_a_job_without_dp if {
	no_dp := json.patch(_composed, [
		testing.remove("/trainingJob/spec/privacy"),
		testing.put("/privacy", {"epsilon": null, "delta": null}),
		testing.put("/dataset/spec/tier", "features"),
		testing.put("/ledger/epsilonAfter", 11),
	])
	count(privacy.deny) == 0 with input as no_dp
}
