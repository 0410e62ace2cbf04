package voxgate.policy_data_test

import data.voxgate.config
import data.voxgate.policy_data
import data.voxgate.testing

# The policy data is replaced as a whole (with config as <patched copy>): a `with` on a path
# below it would be merged into what the rules read, so removed keys would still be seen.
_patched(ops) := json.patch(config, ops)

test_shipped_policy_data_has_no_problems if {
	count(policy_data.problems) == 0
	count(policy_data.deny) == 0
}

test_missing_policy_data if {
	policy_data.problems == {
		"config.tierOrder must be an array, but it is missing",
		"config.fallbackTier must be a string, but it is missing",
		"config.tiers must be an object, but it is missing",
		"config.images.approvedRegistries must be an array, but it is missing",
		"config.grants.twoPersonApproval must be a boolean, but it is missing",
		"config.provenance.transformations must be an object, but it is missing",
	} with config as {}
}

test_policy_data_that_is_not_an_object if {
	"config.tiers must be an object, but it is missing" in policy_data.problems with config as "oops"
}

test_fallback_and_order_must_name_tiers if {
	problems := policy_data.problems with config as _patched([
		testing.put("/fallbackTier", "secret"),
		testing.add("/tierOrder/-", "secret"),
	])
	problems == {
		`config.fallbackTier "secret" is not one of config.tiers`,
		`config.tiers has no controls for the tier "secret"`,
	}
}

test_tier_controls if {
	broken := _patched([
		testing.remove("/tiers/raw/dpRequired"),
		testing.put("/tiers/raw/purposes", null),
		testing.put("/tiers/raw/maxEpsilonPerJob", "1"),
		testing.put("/tiers/raw/egress", "open"),
		testing.put("/tiers/raw/maxResourcesPerWorker", {"cpu": "lots"}),
	])
	problems := policy_data.problems with config as broken
	problems == {
		"config.tiers.raw.purposes must be an array, but it is missing",
		"config.tiers.raw.dpRequired must be a boolean, but it is missing",
		"config.tiers.raw.maxEpsilonPerJob must be a number when set, but it is a string",
		"config.tiers.raw.egress must be deny or a list of host:port endpoints",
		`config.tiers.raw.maxResourcesPerWorker["cpu"] must be a quantity such as 16 or 64Gi`,
	}
	{denial.code | some denial in policy_data.deny} == {"PolicyDataInvalid"} with config as broken
}

test_egress_list_items_are_strings if {
	problems := policy_data.problems with config as _patched([testing.put("/tiers/synthetic/egress", ["a:1", 2])])
	problems == {"config.tiers.synthetic.egress must be deny or a list of host:port endpoints"}
}
