# METADATA
# title: Tier x purpose matrix
# description: |
#   Some purposes are too risky for some tiers whatever the consent says: for example training
#   a voice-cloning (tts-training) model on raw recordings. The matrix is data:
#   data.voxgate.config.tiers[<tier>].purposes.
package voxgate.tier_purpose

import data.voxgate.config

# METADATA
# title: Purpose not permitted on this tier
# description: The job's purpose is not in the purposes the dataset's tier permits.
# custom:
#   code: TierPurposeNotPermitted
#   severity: high
deny contains {"code": "TierPurposeNotPermitted", "message": message} if {
	tier := input.dataset.spec.tier
	purpose := input.trainingJob.spec.purpose
	permitted := config.tiers[tier].purposes
	is_string(purpose)
	not purpose in permitted
	elsewhere := less_sensitive_tiers(config.tierOrder, tier, config.tiers, purpose)
	message := sprintf(
		"purpose %q is not permitted on %s-tier datasets; use one of [%s], %s (%s)",
		[
			purpose, tier, concat(", ", permitted),
			"or train on a less sensitive dataset derived from this one", concat(", ", elsewhere),
		],
	)
}

# METADATA
# title: Less sensitive tiers permitting a purpose
# description: |
#   The tiers after tier in order (most to least sensitive) whose purposes include purpose,
#   or ["none"] when there are none; used to tell the researcher where the purpose is allowed.
less_sensitive_tiers(order, tier, tiers, purpose) := names if {
	some i, name in order
	name == tier
	found := [later |
		some later in array.slice(order, i + 1, count(order))
		purpose in tiers[later].purposes
	]
	names := _or_none(found)
}

_or_none(list) := list if count(list) > 0

else := ["none"]
