package voxgate.obligations_test

import data.voxgate.config
import data.voxgate.obligations
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

_tier(tier) := json.patch(_allowed, [testing.put("/dataset/spec/tier", tier)])

test_obligations_come_from_the_tier if {
	obligations.workload == {
		"tier": "pseudonymized",
		"requireDP": true,
		"maxEpsilon": 3,
		"minNoiseMultiplier": 0.8,
		"credentialTTLSeconds": 1800,
		"egress": {"mode": "deny"},
		"memoryOnlyData": true,
		"maxWorkers": 16,
		"maxResourcesPerWorker": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "4", "ephemeral-storage": "20Gi"},
		"chargeGrant": "team-asr-callcentre",
	} with input as _allowed
}

test_egress_allow_list if {
	synthetic := obligations.workload with input as _tier("synthetic")
	synthetic.egress == {
		"mode": "allowList",
		"endpoints": ["artifacts.ml-platform.svc.cluster.local:443", "mlflow.ml-platform.svc.cluster.local:5000"],
	}
	synthetic.requireDP == false
	synthetic.maxEpsilon == null
}

test_every_tier_has_obligations if {
	every tier in config.tierOrder {
		workload := obligations.workload with input as _tier(tier)
		workload.tier == tier
	}
}

test_unknown_or_missing_tier_gets_the_fallback if {
	obligations.tier == "raw" with input as _tier("secret")
	obligations.tier == "raw" with input as {}
	obligations.tier == "raw" with input as "not an object"
	workload := obligations.workload with input as {}
	workload.credentialTTLSeconds == config.tiers.raw.credentialTTLSeconds
	workload.chargeGrant == null
}

test_egress_function if {
	obligations.egress("deny") == {"mode": "deny"}
	obligations.egress(["b:1", "a:2"]) == {"mode": "allowList", "endpoints": ["a:2", "b:1"]}
	not obligations.egress("open")
}
