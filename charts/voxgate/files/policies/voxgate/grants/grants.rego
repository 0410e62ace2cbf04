# METADATA
# title: Data grants
# description: |
#   A job may use a dataset only through a DataGrant that a data steward approved for the job's
#   namespace. A grant is usable when it is offered to the job (same dataset, grantee namespace
#   is the job's namespace, and it is the one spec.grantRef names if set), applies to it (covers
#   the purpose; if it lists service accounts, the requester is one of them) and nothing is wrong
#   with it (approved with a recorded approver, not revoked, inside its validity window, not
#   approved by the requester, institution within consent, enough epsilon left).
#
#   When no grant is usable, the denial says why. If every applicable grant fails for the same
#   reason, that reason is the code (GrantExpired, GrantRevoked, GrantNotYetValid,
#   GrantNotApproved, SelfApprovedGrant, InstitutionNotConsented, GrantBudgetExceeded);
#   otherwise the code is NoActiveGrant and the message lists what is wrong with each grant.
package voxgate.grants

import data.voxgate.lib.timestamps

_now := timestamps.parse(input.now)

_dataset := sprintf("%s/%s", [input.dataset.metadata.namespace, input.dataset.metadata.name])

# METADATA
# title: Offered grants
# description: |
#   Indexes into input.grants of the grants for the job's dataset whose grantee namespace is the
#   job's namespace; when spec.grantRef is set, only the grant it names.
offered contains i if {
	some i, grant in input.grants
	grant.metadata.namespace == input.dataset.metadata.namespace
	grant.spec.datasetRef.name == input.dataset.metadata.name
	grant.spec.grantee.namespace == input.trainingJob.metadata.namespace
	named_by(grant, input.trainingJob.spec)
}

# METADATA
# title: Named by the job
# description: True when job spec has no grantRef or its grantRef names grant.
# scope: document
named_by(_, spec) if object.get(spec, ["grantRef", "name"], null) == null

named_by(grant, spec) if grant.metadata.name == spec.grantRef.name

# METADATA
# title: Applicable grants
# description: Offered grants that cover the job's purpose and, if they narrow, the requester.
applicable contains i if {
	some i in offered
	grant := input.grants[i]
	input.trainingJob.spec.purpose in grant.spec.purposes
	covers_requester(grant.spec.grantee, input.requester)
}

# METADATA
# title: Covers the requester
# description: |
#   True when grantee lists no service accounts, or requester is one of them (its
#   serviceAccount, set only for a ServiceAccount of the job's namespace, is in the list).
# scope: document
covers_requester(grantee, _) if count(object.get(grantee, "serviceAccounts", [])) == 0

covers_requester(grantee, requester) if requester.serviceAccount in grantee.serviceAccounts

# METADATA
# title: Remaining allowance of a grant
# description: |
#   The grant's epsilon allowance minus what the ledger (usage: ledger.grants) says it has used
#   and reserved (composed, as the ledger reports them). A grant with no ledger entry has used
#   nothing.
remaining(grant, usage) := grant.spec.privacy.epsilon - committed(grant, usage)

# METADATA
# title: Committed epsilon of a grant
# description: |
#   The composed epsilon of the runs charged to the grant, spent and reserved, as the ledger
#   (usage: ledger.grants) reports it. A grant with no ledger entry has used nothing.
committed(grant, usage) := used + reserved if {
	entry := object.get(usage, grant.metadata.name, {})
	used := object.get(entry, "epsilonUsed", 0)
	reserved := object.get(entry, "epsilonReserved", 0)
}

# METADATA
# title: Composed epsilon of a grant with the job
# description: |
#   The grant's ledger entry's epsilonAfter (its charged runs and this job's composed), undefined
#   unless it is a number. Never less than what the grant has committed, so an inconsistent
#   figure can only make the policy stricter.
composed_after(grant, usage) := max([after, committed(grant, usage)]) if {
	after := object.get(object.get(usage, grant.metadata.name, {}), "epsilonAfter", null)
	is_number(after)
}

# METADATA
# title: Usable grants
# description: Names of the applicable grants with nothing wrong.
usable contains name if {
	some i in applicable
	not i in _failing
	name := input.grants[i].metadata.name
}

_failing contains problem.grant if some problem in problems

# METADATA
# title: Grant to charge
# description: |
#   The usable grant the operator charges the job's epsilon to (the first by name), or null when
#   none is usable. Returned to the operator as obligations.chargeGrant.
# scope: document
default charge := null

charge := min(usable) if count(usable) > 0

# METADATA
# title: No grant applies
# description: No grant is offered to the job's namespace, or none covers its purpose or requester.
# custom:
#   code: NoActiveGrant
#   severity: critical
deny contains {"code": "NoActiveGrant", "message": _no_applicable_message} if count(applicable) == 0

# METADATA
# title: No grant is usable
# description: Grants apply to the job, but each has a problem and they do not share one.
# custom:
#   code: NoActiveGrant
#   severity: critical
deny contains {"code": "NoActiveGrant", "message": message} if {
	count(applicable) > 0
	count(usable) == 0
	count(_shared_codes) == 0
	message := sprintf(
		"no usable DataGrant for dataset %s: %s",
		[_dataset, concat("; ", sort({problem.message | some problem in problems}))],
	)
}

# METADATA
# title: Every applicable grant fails for the same reason
# description: |
#   Reported with that reason's code (GrantExpired, GrantRevoked, GrantNotYetValid,
#   GrantNotApproved, SelfApprovedGrant, InstitutionNotConsented or GrantBudgetExceeded).
# custom:
#   severity: critical
deny contains {"code": code, "message": message} if {
	count(usable) == 0
	some code in _shared_codes
	message := concat("; ", sort({problem.message | some problem in problems; problem.code == code}))
}

# The codes that every applicable grant has among its problems.
_shared_codes contains problem.code if {
	some problem in problems
	{other.grant | some other in problems; other.code == problem.code} == applicable
}

_no_applicable_message := sprintf(
	"DataGrant %q named in spec.grantRef does not exist for dataset %s or does not grant namespace %q; %s",
	[
		input.trainingJob.spec.grantRef.name, _dataset, input.trainingJob.metadata.namespace,
		"name a grant that does, or remove spec.grantRef",
	],
) if {
	input.trainingJob.spec.grantRef.name
	count(offered) == 0
} else := sprintf(
	"no DataGrant for dataset %s grants namespace %q; ask the data steward to create and approve one",
	[_dataset, input.trainingJob.metadata.namespace],
) if {
	count(offered) == 0
} else := sprintf(
	"no DataGrant for dataset %s grants namespace %q the purpose %q for requester %q: %s; %s",
	[
		_dataset, input.trainingJob.metadata.namespace, input.trainingJob.spec.purpose,
		input.requester.username, concat("; ", sort(_not_applicable_reasons)),
		"ask the data steward to extend a grant or create one",
	],
)

_not_applicable_reasons contains message if {
	some i in offered
	grant := input.grants[i]
	not input.trainingJob.spec.purpose in grant.spec.purposes
	message := sprintf("grant %q covers only [%s]", [grant.metadata.name, concat(", ", grant.spec.purposes)])
}

_not_applicable_reasons contains message if {
	some i in offered
	grant := input.grants[i]
	not covers_requester(grant.spec.grantee, input.requester)
	message := sprintf(
		"grant %q is limited to the service accounts [%s] of namespace %q",
		[grant.metadata.name, concat(", ", grant.spec.grantee.serviceAccounts), grant.spec.grantee.namespace],
	)
}
