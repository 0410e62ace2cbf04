package voxgate.resources_test

import data.voxgate.resources
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

_codes(denials) := {denial.code | some denial in denials}

test_within_caps_is_not_denied if {
	count(resources.deny) == 0 with input as _allowed
}

test_workers_default_to_one if {
	one := json.patch(_allowed, [testing.remove("/trainingJob/spec/workers")])
	count(resources.deny) == 0 with input as one
}

test_workers_at_the_cap_are_allowed_and_above_are_not if {
	at_cap := json.patch(_allowed, [testing.put("/trainingJob/spec/workers", 16)])
	count(resources.deny) == 0 with input as at_cap

	above := json.patch(_allowed, [testing.put("/trainingJob/spec/workers", 17)])
	denials := resources.deny with input as above
	denials == {{
		"code": "WorkersExceedTierCap",
		"message": concat("", [
			"spec.workers is 17 but jobs on pseudonymized-tier datasets may run at most 16 workers; ",
			"lower spec.workers",
		]),
	}}
}

test_quantities_are_compared_as_numbers if {
	big := json.patch(_allowed, [
		testing.put("/trainingJob/spec/resources/requests/cpu", "32000m"),
		testing.put("/trainingJob/spec/resources/limits/memory", "131072Mi"),
	])
	count(resources.deny) == 0 with input as big

	bigger := json.patch(_allowed, [
		testing.put("/trainingJob/spec/resources/requests/cpu", "32001m"),
		testing.put("/trainingJob/spec/resources/limits/memory", "129Gi"),
		testing.put("/trainingJob/spec/resources/limits/nvidia.com~1gpu", 5),
	])
	denials := resources.deny with input as bigger
	_codes(denials) == {"ResourcesExceedTierCap"}
	messages := {denial.message | some denial in denials}
	count(messages) == 3
	concat("", [
		`spec.resources.limits["memory"] is 129Gi but a worker on a pseudonymized-tier dataset may have at most 128Gi; `,
		"lower it",
	]) in messages
}

test_resource_the_tier_does_not_list if {
	other := json.patch(_allowed, [testing.add("/trainingJob/spec/resources/limits/amd.com~1gpu", "1")])
	denials := resources.deny with input as other
	denials == {{
		"code": "ResourcesExceedTierCap",
		"message": concat("", [
			`spec.resources.limits["amd.com/gpu"] is not available to jobs on pseudonymized-tier datasets; `,
			"remove it (allowed: cpu, ephemeral-storage, memory, nvidia.com/gpu)",
		]),
	}}
}
