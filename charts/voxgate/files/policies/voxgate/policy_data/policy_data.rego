# METADATA
# title: Policy data
# description: |
#   Checks the policy data (data.voxgate.config, from policies/voxgate/config/data.yaml) on every
#   decision. A rule that reads a value that is not there does not fire, so without this a
#   broken edit (say, a tier without purposes) would let requests through. Instead every
#   request is denied with PolicyDataInvalid until the data is fixed (fail closed).
package voxgate.policy_data

import data.voxgate.config
import data.voxgate.lib.quantity
import data.voxgate.validation

# METADATA
# title: Policy data invalid
# description: The policy data lacks a value the rules need, or has one of the wrong shape.
# custom:
#   code: PolicyDataInvalid
#   severity: critical
deny contains {"code": "PolicyDataInvalid", "message": message} if {
	some problem in problems
	message := sprintf(
		"policy data: %s; a compliance officer must fix policies/voxgate/config/data.yaml",
		[problem],
	)
}

# METADATA
# title: Problems in the policy data
# description: One sentence per problem, naming the value (config.<path>) and what it must be.
problems contains message if {
	some group in [_shape_problems, _tier_problems]
	some message in group
}

# The policy data, or {} when there is none at all (so that its absence is reported too).
default _config := {}

_config := config if is_object(config)

_shape := {
	"tierOrder": "array",
	"fallbackTier": "string",
	"tiers": "object",
	"images.approvedRegistries": "array",
	"grants.twoPersonApproval": "boolean",
	"provenance.transformations": "object",
}

_controls := {
	"purposes": "array",
	"dpRequired": "boolean",
	"credentialTTLSeconds": "number",
	"memoryOnlyData": "boolean",
	"maxWorkers": "number",
	"maxResourcesPerWorker": "object",
}

_nullable_controls := {
	"minNoiseMultiplier": "number",
	"maxEpsilonPerJob": "number",
}

_shape_problems contains message if {
	some message in validation.type_problems(_config, "config.", _shape)
}

_shape_problems contains sprintf("config.fallbackTier %q is not one of config.tiers", [_config.fallbackTier]) if {
	is_string(_config.fallbackTier)
	not _config.tiers[_config.fallbackTier]
}

_shape_problems contains sprintf("config.tiers has no controls for the tier %q", [tier]) if {
	some tier in _config.tierOrder
	not _config.tiers[tier]
}

_tier_problems contains message if {
	some tier, controls in _config.tiers
	prefix := sprintf("config.tiers.%s.", [tier])
	some message in validation.type_problems(controls, prefix, _controls)
}

_tier_problems contains message if {
	some tier, controls in _config.tiers
	prefix := sprintf("config.tiers.%s.", [tier])
	some message in validation.optional_problems(controls, prefix, _nullable_controls)
}

_tier_problems contains message if {
	some tier, controls in _config.tiers
	not _egress(object.get(controls, "egress", null))
	message := sprintf("config.tiers.%s.egress must be deny or a list of host:port endpoints", [tier])
}

_tier_problems contains message if {
	some tier, controls in _config.tiers
	some name, cap in controls.maxResourcesPerWorker
	not quantity.valid(cap)
	message := sprintf("config.tiers.%s.maxResourcesPerWorker[%q] must be a quantity such as 16 or 64Gi", [tier, name])
}

_egress("deny")

_egress(endpoints) if {
	is_array(endpoints)
	every endpoint in endpoints {
		is_string(endpoint)
	}
}
