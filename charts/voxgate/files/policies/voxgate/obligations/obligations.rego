# METADATA
# title: Obligations
# description: |
#   What the operator must apply to the workload: taken from the dataset's tier controls
#   (data.voxgate.config.tiers[<tier>]), so the operator hard-codes no per-tier rule. They are
#   computed even when the job is denied (the status shows what an admitted job would get); a
#   missing or unknown tier gets the controls of config.fallbackTier, the most sensitive.
package voxgate.obligations

import data.voxgate.config
import data.voxgate.grants

# METADATA
# title: Tier the obligations come from
# description: The dataset's tier when it is a known one, else config.fallbackTier.
tier := input.dataset.spec.tier if {
	is_string(input.dataset.spec.tier)
	config.tiers[input.dataset.spec.tier]
} else := config.fallbackTier

_controls := config.tiers[tier]

# METADATA
# title: Obligations
# description: |
#   requireDP: the trainer must run DP-SGD with the job's spec.privacy.
#   maxEpsilon: the most epsilon the job may spend (null: only the budgets limit it).
#   minNoiseMultiplier: the least DP-SGD noise (null: no minimum).
#   credentialTTLSeconds: lifetime of the job's data credentials.
#   egress: {"mode": "deny"} or {"mode": "allowList", "endpoints": ["host:port", ...]}, on top
#   of DNS, the key broker and the job's own workers.
#   memoryOnlyData: decrypt only into memory-backed volumes.
#   maxWorkers, maxResourcesPerWorker: caps to enforce (limits to set when the job sets none).
#   chargeGrant: the DataGrant to charge the job's epsilon to (null when none is usable).
workload := {
	"tier": tier,
	"requireDP": _controls.dpRequired,
	"maxEpsilon": _controls.maxEpsilonPerJob,
	"minNoiseMultiplier": _controls.minNoiseMultiplier,
	"credentialTTLSeconds": _controls.credentialTTLSeconds,
	"egress": egress(_controls.egress),
	"memoryOnlyData": _controls.memoryOnlyData,
	"maxWorkers": _controls.maxWorkers,
	"maxResourcesPerWorker": _controls.maxResourcesPerWorker,
	"chargeGrant": grants.charge,
}

# METADATA
# title: Egress obligation
# description: The tier's egress setting ("deny" or a list of host:port endpoints) as an obligation.
# scope: document
egress("deny") := {"mode": "deny"}

egress(endpoints) := {"mode": "allowList", "endpoints": sort(endpoints)} if is_array(endpoints)
