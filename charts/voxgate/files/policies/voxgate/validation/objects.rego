package voxgate.validation

import data.voxgate.config

# Input validation, continued: the dataset, its parents, the grants and the ledger.

# --- the dataset ----------------------------------------------------------------------------

_dataset_problems contains message if {
	tier := input.dataset.spec.tier
	is_string(tier)
	not config.tiers[tier]
	message := sprintf("dataset.spec.tier %q is not a known tier; it must be one of %s", [tier, _tier_list])
}

_dataset_problems contains message if {
	ref := input.trainingJob.spec.datasetRef
	expected := [object.get(ref, "namespace", input.trainingJob.metadata.namespace), ref.name]
	actual := [input.dataset.metadata.namespace, input.dataset.metadata.name]
	actual != expected
	message := sprintf(
		"dataset %s is not the dataset trainingJob.spec.datasetRef names (%s)",
		[concat("/", actual), concat("/", expected)],
	)
}

_dataset_problems contains message if {
	some list in ["purposes", "institutions"]
	some message in string_list_problems(
		input.dataset.spec.consent[list],
		sprintf("dataset.spec.consent.%s", [list]),
	)
}

_dataset_problems contains message if {
	some i, source in input.dataset.spec.derivedFrom
	some message in type_problems(source, sprintf("dataset.spec.derivedFrom[%d].", [i]), _derived_from_fields)
}

_dataset_problems contains message if {
	some i, source in input.dataset.spec.derivedFrom
	is_string(source.transformation)
	not config.provenance.transformations[source.transformation]
	message := sprintf(
		"dataset.spec.derivedFrom[%d].transformation %q is not known; it must be one of %s",
		[i, source.transformation, concat(", ", sort(object.keys(config.provenance.transformations)))],
	)
}

_dataset_problems contains message if {
	is_array(input.parents)
	parent_names := {parent.metadata.name | some parent in input.parents}
	some i, source in input.dataset.spec.derivedFrom
	is_string(source.name)
	not source.name in parent_names
	message := sprintf(
		"parents must include the SpeechDataset %q named in dataset.spec.derivedFrom[%d]",
		[source.name, i],
	)
}

_tier_list := concat(", ", config.tierOrder)

_derived_from_fields := {"name": "string", "transformation": "string"}

# METADATA
# title: String list problems
# description: A message for each item of list that is not a string; label names the list.
string_list_problems(list, label) := {sprintf("%s[%d] must be a string", [label, i]) |
	some i, item in list
	not is_string(item)
}

# --- the parents ------------------------------------------------------------------------------

_parent_problems contains message if {
	some i, parent in input.parents
	prefix := sprintf("parents[%d].", [i])
	some message in type_problems(parent, prefix, _parent_fields)
}

_parent_problems contains message if {
	some i, parent in input.parents
	prefix := sprintf("parents[%d].", [i])
	some message in optional_problems(parent, prefix, _parent_optional)
}

_parent_problems contains message if {
	some i, parent in input.parents
	prefix := sprintf("parents[%d].", [i])
	some message in timestamp_problems(parent, prefix, ["spec.consent.expiresAt"])
}

_parent_problems contains message if {
	some i, parent in input.parents
	some list in ["purposes", "institutions"]
	label := sprintf("parents[%d].spec.consent.%s", [i, list])
	some message in string_list_problems(parent.spec.consent[list], label)
}

_parent_problems contains sprintf("parents[%d].spec.tier %q is not a known tier", [i, parent.spec.tier]) if {
	some i, parent in input.parents
	is_string(parent.spec.tier)
	not config.tiers[parent.spec.tier]
}

_parent_fields := {
	"metadata.name": "string",
	"spec.tier": "string",
	"spec.consent.purposes": "array",
}

_parent_optional := {"spec.consent.institutions": "array"}

# --- the grants -------------------------------------------------------------------------------

_grant_problems contains message if {
	some i, grant in input.grants
	some message in type_problems(grant, sprintf("grants[%d].", [i]), _grant_fields)
}

_grant_problems contains message if {
	some i, grant in input.grants
	some message in optional_problems(grant, sprintf("grants[%d].", [i]), _grant_optional)
}

_grant_problems contains message if {
	some i, grant in input.grants
	some message in timestamp_problems(grant, sprintf("grants[%d].", [i]), ["spec.validFrom", "spec.expiresAt"])
}

_grant_problems contains message if {
	some i, grant in input.grants
	some list in ["purposes", "grantee.serviceAccounts"]
	label := sprintf("grants[%d].spec.%s", [i, list])
	some message in string_list_problems(object.get(grant.spec, split(list, "."), []), label)
}

_grant_problems contains sprintf("grants lists the DataGrant %s more than once", [concat("/", key)]) if {
	some i, grant in input.grants
	some j, other in input.grants
	i < j
	key := [grant.metadata.namespace, grant.metadata.name]
	key == [other.metadata.namespace, other.metadata.name]
}

_grant_fields := {
	"metadata.name": "string",
	"metadata.namespace": "string",
	"spec": "object",
	"spec.datasetRef.name": "string",
	"spec.grantee.namespace": "string",
	"spec.purposes": "array",
	"spec.privacy.epsilon": "number",
}

_grant_optional := {
	"metadata.annotations": "object",
	"spec.grantee.serviceAccounts": "array",
	"spec.grantee.institution": "string",
	"spec.approved": "boolean",
	"spec.revoked": "boolean",
}

# --- the ledger -------------------------------------------------------------------------------

_ledger_problems contains sprintf("ledger.%s must not be negative", [field]) if {
	some field in ["epsilonTotal", "epsilonSpent", "epsilonReserved", "epsilonRemaining", "epsilonAfter"]
	is_number(input.ledger[field])
	input.ledger[field] < 0
}

_ledger_problems contains sprintf("ledger.grants[%q] must be an object, but it is %s", [name, _describe(entry)]) if {
	some name, entry in input.ledger.grants
	not is_object(entry)
}

_ledger_problems contains sprintf("ledger.grants[%q].%s must be a number of at least 0", [name, field]) if {
	some name, entry in input.ledger.grants
	is_object(entry)
	some field, default_value in {"epsilonUsed": null, "epsilonReserved": 0}
	not _non_negative(object.get(entry, field, default_value))
}

_ledger_problems contains sprintf("ledger.grants[%q].epsilonAfter must be a number of at least 0 when set", [name]) if {
	some name, entry in input.ledger.grants
	is_object(entry)
	after := object.get(entry, "epsilonAfter", null)
	after != null
	not _non_negative(after)
}

_non_negative(x) if {
	is_number(x)
	x >= 0
}
