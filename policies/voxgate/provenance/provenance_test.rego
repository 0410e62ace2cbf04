package voxgate.provenance_test

import data.voxgate.config
import data.voxgate.provenance
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

_widened := data.samples.derived_consent_widened

_codes(denials) := {denial.code | some denial in denials}

test_narrowed_consent_is_not_denied if {
	count(provenance.deny) == 0 with input as _allowed
}

test_dataset_without_parents_is_not_checked if {
	original := json.patch(_allowed, [testing.remove("/dataset/spec/derivedFrom")])
	count(provenance.deny) == 0 with input as original
}

test_each_widening_is_reported if {
	messages := {denial.message | some denial in provenance.deny} with input as _widened
	messages == {
		concat("", [
			`dataset "callcentre-en-2024-features" lists purposes [emotion-recognition] that its parent `,
			`"callcentre-en-2024-pseudo"'s consent does not; remove them from spec.consent.purposes`,
		]),
		concat("", [
			`dataset "callcentre-en-2024-features"'s consent never expires but its parent "callcentre-en-2024-pseudo"'s `,
			"expires at 2027-06-30T00:00:00Z; set spec.consent.expiresAt to 2027-06-30T00:00:00Z or earlier",
		]),
		concat("", [
			`dataset "callcentre-en-2024-features" allows any institution but its parent "callcentre-en-2024-pseudo"'s `,
			"consent is limited to [Example Telecom]; list at most those in spec.consent.institutions",
		]),
	}
	_codes(provenance.deny) == {"DerivedConsentWidened"} with input as _widened
}

test_later_expiry_and_extra_institutions if {
	later := json.patch(_allowed, [
		testing.put("/dataset/spec/consent/expiresAt", "2028-01-01T00:00:00Z"),
		testing.put("/dataset/spec/consent/institutions", ["Example Telecom", "Acme Speech"]),
	])
	messages := {denial.message | some denial in provenance.deny} with input as later
	count(messages) == 2
	concat("", [
		`dataset "callcentre-en-2024-pseudo"'s consent expires at 2028-01-01T00:00:00Z, after its parent `,
		`"callcentre-en-2024-raw"'s (2027-12-31T23:59:59Z); set spec.consent.expiresAt to 2027-12-31T23:59:59Z or earlier`,
	]) in messages
	concat("", [
		`dataset "callcentre-en-2024-pseudo" allows institutions [Acme Speech] that its parent "callcentre-en-2024-raw"'s `,
		"consent does not; remove them from spec.consent.institutions",
	]) in messages
}

test_tier_lowered_more_than_the_transformation_justifies if {
	# A subset keeps its parent's tier: a "pseudonymized" subset of raw recordings is still raw.
	subset := json.patch(_allowed, [testing.put("/dataset/spec/derivedFrom/0/transformation", "subset")])
	denials := provenance.deny with input as subset
	denials == {{
		"code": "DerivedTierNotJustified",
		"message": concat("", [
			`dataset "callcentre-en-2024-pseudo" is pseudonymized-tier but was derived by subset from `,
			`"callcentre-en-2024-raw", which is raw-tier; that justifies at most raw, `,
			"so set spec.tier to raw or a more sensitive tier",
		]),
	}}
}

test_transformation_justifies_its_tier_and_no_further if {
	anonymized := json.patch(_allowed, [
		testing.put("/dataset/spec/derivedFrom/0/transformation", "anonymization"),
		testing.put("/dataset/spec/tier", "anonymized"),
	])
	count(provenance.deny) == 0 with input as anonymized

	features := json.patch(anonymized, [testing.put("/dataset/spec/tier", "features")])
	_codes(provenance.deny) == {"DerivedTierNotJustified"} with input as features
}

test_least_sensitive_tier if {
	provenance.least_sensitive_tier(config, "synthesis", "raw") == "synthetic"
	provenance.least_sensitive_tier(config, "augmentation", "pseudonymized") == "pseudonymized"

	# Pseudonymizing already anonymized data does not make it more sensitive either.
	provenance.least_sensitive_tier(config, "pseudonymization", "anonymized") == "anonymized"
}

test_rank if {
	provenance.rank(config.tierOrder, "raw") == 0
	provenance.rank(config.tierOrder, "synthetic") == 4
	not provenance.rank(config.tierOrder, "secret")
}
