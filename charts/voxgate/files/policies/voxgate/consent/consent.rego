# METADATA
# title: Consent
# description: |
#   The consent recorded on the SpeechDataset travels with the data: what the recorded speakers
#   agreed to (purposes) and until when (retention, consent.expiresAt). Which institutions may
#   use the data is checked against the grant in package voxgate.grants.
package voxgate.consent

import data.voxgate.lib.timestamps

# METADATA
# title: Purpose not consented
# description: The job's purpose is not one the dataset's consent lists.
# custom:
#   code: PurposeNotConsented
#   severity: critical
deny contains {"code": "PurposeNotConsented", "message": message} if {
	purpose := input.trainingJob.spec.purpose
	is_string(purpose)
	consented := input.dataset.spec.consent.purposes
	not purpose in consented
	message := sprintf(
		"the speakers in dataset %q consented to [%s], not to %q; %s",
		[
			input.dataset.metadata.name, concat(", ", consented), purpose,
			"choose a consented purpose or use a dataset whose consent covers it",
		],
	)
}

# METADATA
# title: Consent expired
# description: The dataset's retention ended (consent.expiresAt is not after now); no training may start.
# custom:
#   code: ConsentExpired
#   severity: critical
deny contains {"code": "ConsentExpired", "message": message} if {
	expires_at := input.dataset.spec.consent.expiresAt
	timestamps.parse(expires_at) <= timestamps.parse(input.now)
	message := sprintf(
		"the consent for dataset %q expired at %s; %s",
		[
			input.dataset.metadata.name, expires_at,
			"its data may no longer be used for training unless a data steward records renewed consent",
		],
	)
}
