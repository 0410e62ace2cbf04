# METADATA
# title: Provenance of derived datasets
# description: |
#   A dataset derived from others (spec.derivedFrom) inherits their consent: it may narrow it
#   but never widen it. Its tier may be less sensitive than its parents' only as far as the
#   recorded transformation justifies (data.voxgate.config.provenance.transformations). The
#   input holds the direct parents; each of them is checked against its own parents whenever
#   a job trains on it.
package voxgate.provenance

import data.voxgate.config
import data.voxgate.lib.timestamps

# METADATA
# title: Derived consent widened
# description: |
#   The dataset's consent is wider than a parent's: a purpose the parent does not list, an
#   expiry later than the parent's (or none while the parent has one), or institutions beyond
#   the parent's (or none, meaning any, while the parent lists some).
# custom:
#   code: DerivedConsentWidened
#   severity: critical
deny contains {"code": "DerivedConsentWidened", "message": message} if {
	some [_, parent] in _sources
	some message in widenings(input.dataset.metadata.name, input.dataset.spec.consent, parent)
}

# METADATA
# title: Derived tier not justified
# description: |
#   The dataset's tier is less sensitive than its parent's by more than the transformation that
#   produced it justifies: subset and augmentation keep the parent's tier, pseudonymization
#   justifies at most pseudonymized, anonymization anonymized, feature-extraction features,
#   synthesis synthetic.
# custom:
#   code: DerivedTierNotJustified
#   severity: critical
deny contains {"code": "DerivedTierNotJustified", "message": message} if {
	some [transformation, parent] in _sources
	tier := input.dataset.spec.tier
	justified := least_sensitive_tier(config, transformation, parent.spec.tier)
	rank(config.tierOrder, tier) > rank(config.tierOrder, justified)
	message := sprintf(
		"dataset %q is %s-tier but was derived by %s from %q, which is %s-tier; %s",
		[
			input.dataset.metadata.name, tier, transformation, parent.metadata.name, parent.spec.tier,
			sprintf("that justifies at most %s, so set spec.tier to %s or a more sensitive tier", [justified, justified]),
		],
	)
}

# The parents named in spec.derivedFrom, with the transformation that produced this dataset.
_sources contains [source.transformation, parent] if {
	some source in input.dataset.spec.derivedFrom
	some parent in input.parents
	parent.metadata.name == source.name
}

# METADATA
# title: Consent widenings
# description: A message for each way consent (of the dataset called name) is wider than parent's.
widenings(name, consent, parent) := {message |
	some found in [
		purposes_widened(name, consent, parent),
		expiry_widened(name, consent, parent),
		institutions_widened(name, consent, parent),
	]
	some message in found
}

# METADATA
# title: Purposes widened
# description: Purposes in consent that parent's consent does not list.
purposes_widened(name, consent, parent) := {message |
	extra := {purpose | some purpose in consent.purposes} - {purpose | some purpose in parent.spec.consent.purposes}
	count(extra) > 0
	message := sprintf(
		"dataset %q lists purposes [%s] that its parent %q's consent does not; remove them from spec.consent.purposes",
		[name, concat(", ", sort(extra)), parent.metadata.name],
	)
}

# METADATA
# title: Expiry widened
# description: consent expires later than parent's, or never while parent's expires.
expiry_widened(name, consent, parent) := {message |
	limit := parent.spec.consent.expiresAt
	timestamps.parse(consent.expiresAt) > timestamps.parse(limit)
	message := sprintf(
		"dataset %q's consent expires at %s, after its parent %q's (%s); set spec.consent.expiresAt to %s or earlier",
		[name, consent.expiresAt, parent.metadata.name, limit, limit],
	)
} | {message |
	limit := parent.spec.consent.expiresAt
	object.get(consent, "expiresAt", null) == null
	message := sprintf(
		"dataset %q's consent never expires but its parent %q's expires at %s; set spec.consent.expiresAt to %s or earlier",
		[name, parent.metadata.name, limit, limit],
	)
}

# METADATA
# title: Institutions widened
# description: |
#   consent allows institutions parent's does not; an empty or missing list means any
#   institution, which is wider than any list.
institutions_widened(name, consent, parent) := {message |
	allowed := {institution | some institution in parent.spec.consent.institutions}
	count(allowed) > 0
	extra := {institution | some institution in object.get(consent, "institutions", [])} - allowed
	count(extra) > 0
	message := sprintf(
		"dataset %q allows institutions [%s] that its parent %q's consent does not; %s",
		[name, concat(", ", sort(extra)), parent.metadata.name, "remove them from spec.consent.institutions"],
	)
} | {message |
	count(parent.spec.consent.institutions) > 0
	count(object.get(consent, "institutions", [])) == 0
	message := sprintf(
		"dataset %q allows any institution but its parent %q's consent is limited to [%s]; %s",
		[
			name, parent.metadata.name, concat(", ", sort(parent.spec.consent.institutions)),
			"list at most those in spec.consent.institutions",
		],
	)
}

# METADATA
# title: Least sensitive tier a transformation justifies
# description: |
#   For a dataset made by transformation from a parent of parent_tier: the tier the
#   configuration names for the transformation, or the parent's tier when that is more
#   sensitive or the configuration says "parent".
least_sensitive_tier(cfg, transformation, parent_tier) := target if {
	target := cfg.provenance.transformations[transformation]
	target != "parent"
	rank(cfg.tierOrder, target) > rank(cfg.tierOrder, parent_tier)
} else := parent_tier

# METADATA
# title: Rank of a tier
# description: Position of tier in order (0 is the most sensitive).
rank(order, tier) := i if {
	some i, name in order
	name == tier
}
