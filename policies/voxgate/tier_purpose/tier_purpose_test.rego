package voxgate.tier_purpose_test

import data.voxgate.config
import data.voxgate.testing
import data.voxgate.tier_purpose

_allowed := data.samples.call_centre_allowed

_purpose(purpose) := json.patch(_allowed, [testing.put("/trainingJob/spec/purpose", purpose)])

test_permitted_purpose_is_not_denied if {
	count(tier_purpose.deny) == 0 with input as _allowed
}

test_purpose_not_permitted_on_tier_names_where_it_is if {
	denials := tier_purpose.deny with input as _purpose("tts-training")
	count(denials) == 1
	some denial in denials
	denial.code == "TierPurposeNotPermitted"
	contains(denial.message, `purpose "tts-training" is not permitted on pseudonymized-tier datasets`)
	endswith(denial.message, "(synthetic)")
}

test_purpose_permitted_nowhere_says_none if {
	denials := tier_purpose.deny with input as _purpose("voice-cloning")
	some denial in denials
	endswith(denial.message, "(none)")
}

test_the_matrix_is_data if {
	count(tier_purpose.deny) == 0 with input as _purpose("tts-training")
		with config as json.patch(config, [testing.put("/tiers/pseudonymized/purposes", ["tts-training"])])
}

test_less_sensitive_tiers if {
	tier_purpose.less_sensitive_tiers(config.tierOrder, "raw", config.tiers, "emotion-recognition") == [
		"anonymized",
		"features",
		"synthetic",
	]
	tier_purpose.less_sensitive_tiers(config.tierOrder, "synthetic", config.tiers, "asr-training") == ["none"]
}
