package voxgate.consent_test

import data.voxgate.consent
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

test_consented_and_current_is_not_denied if {
	count(consent.deny) == 0 with input as _allowed
}

test_purpose_not_consented if {
	# asr-evaluation is in consent; speaker-diarization is permitted on the tier but not consented.
	job := json.patch(_allowed, [testing.put("/trainingJob/spec/purpose", "speaker-diarization")])
	denials := consent.deny with input as job
	denials == {{
		"code": "PurposeNotConsented",
		"message": concat("", [
			`the speakers in dataset "callcentre-en-2024-pseudo" consented to [asr-training, asr-evaluation], `,
			`not to "speaker-diarization"; choose a consented purpose or use a dataset whose consent covers it`,
		]),
	}}
}

test_consent_expired_at_the_instant if {
	at_expiry := json.patch(_allowed, [testing.put("/now", "2027-06-30T00:00:00Z")])
	denials := consent.deny with input as at_expiry
	some denial in denials
	denial.code == "ConsentExpired"
	contains(denial.message, "expired at 2027-06-30T00:00:00Z")
}

test_consent_without_expiry_never_expires if {
	forever := json.patch(_allowed, [
		testing.remove("/dataset/spec/consent/expiresAt"),
		testing.put("/now", "2099-01-01T00:00:00Z"),
	])
	count(consent.deny) == 0 with input as forever
}
