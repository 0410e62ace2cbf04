package voxgate.config_test

# Checks on the policy data itself, so that an edit of data.yaml that would break decisions
# fails `opa test` instead of production.

import data.voxgate.config
import data.voxgate.lib.quantity

_controls := {
	"purposes",
	"dpRequired",
	"minNoiseMultiplier",
	"maxEpsilonPerJob",
	"credentialTTLSeconds",
	"egress",
	"memoryOnlyData",
	"maxWorkers",
	"maxResourcesPerWorker",
}

test_tiers_are_the_crd_tiers_in_order if {
	config.tierOrder == ["raw", "pseudonymized", "anonymized", "features", "synthetic"]
	object.keys(config.tiers) == {tier | some tier in config.tierOrder}
	config.fallbackTier in config.tierOrder
}

test_every_tier_has_every_control_and_nothing_else if {
	every controls in config.tiers {
		object.keys(controls) == _controls
	}
}

test_purposes_are_purpose_names if {
	every controls in config.tiers {
		count(controls.purposes) > 0
		every purpose in controls.purposes {
			regex.match(`^[a-z]([a-z0-9-]*[a-z0-9])?$`, purpose)
		}
	}
}

test_dp_controls if {
	every controls in config.tiers {
		is_boolean(controls.dpRequired)
		_null_or_positive(controls.minNoiseMultiplier)
		_null_or_positive(controls.maxEpsilonPerJob)
	}
}

test_tiers_that_require_dp_set_a_noise_floor_and_an_epsilon_limit if {
	every controls in config.tiers {
		_dp_limits_set(controls)
	}
}

test_workload_controls if {
	every controls in config.tiers {
		_positive_integer(controls.credentialTTLSeconds)
		_positive_integer(controls.maxWorkers)
		controls.maxWorkers <= 256
		is_boolean(controls.memoryOnlyData)
		_egress(controls.egress)
		every cap in controls.maxResourcesPerWorker {
			quantity.valid(cap)
		}
	}
}

test_registries if {
	count(config.images.approvedRegistries) > 0
	every registry in config.images.approvedRegistries {
		regex.match(`^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*/?$`, registry)
	}
}

test_transformations_name_tiers if {
	object.keys(config.provenance.transformations) == {
		"pseudonymization",
		"anonymization",
		"feature-extraction",
		"synthesis",
		"subset",
		"augmentation",
	}
	every target in config.provenance.transformations {
		target in array.concat(config.tierOrder, ["parent"])
	}
}

test_grant_settings if {
	is_boolean(config.grants.twoPersonApproval)
}

_null_or_positive(null)

_null_or_positive(x) if x > 0

_positive_integer(x) if {
	is_number(x)
	x >= 1
	x == floor(x)
}

_dp_limits_set(controls) if controls.dpRequired == false

_dp_limits_set(controls) if {
	controls.dpRequired == true
	is_number(controls.minNoiseMultiplier)
	is_number(controls.maxEpsilonPerJob)
}

_egress("deny")

_egress(endpoints) if {
	is_array(endpoints)
	every endpoint in endpoints {
		regex.match(`^[a-z0-9.-]+:[0-9]{1,5}$`, endpoint)
	}
}
