package voxgate.grants

import data.voxgate.config
import data.voxgate.lib.display
import data.voxgate.lib.identity
import data.voxgate.lib.timestamps

# What can be wrong with an applicable grant. Each problem is
# {"grant": <index into input.grants>, "code": <deny code>, "message": <what to change>}.

# METADATA
# title: Grant revoked
# description: A steward revoked the grant (spec.revoked); revocation is permanent.
# custom:
#   code: GrantRevoked
#   severity: critical
problems contains {"grant": i, "code": "GrantRevoked", "message": message} if {
	some i in applicable
	grant := input.grants[i]
	grant.spec.revoked == true
	message := sprintf(
		"grant %q was revoked; revocation is permanent, ask the data steward for a new grant",
		[grant.metadata.name],
	)
}

# METADATA
# title: Grant not approved
# description: spec.approved is not true.
# custom:
#   code: GrantNotApproved
#   severity: critical
problems contains {"grant": i, "code": "GrantNotApproved", "message": message} if {
	some i in applicable
	grant := input.grants[i]
	object.get(grant.spec, "approved", false) != true
	message := sprintf(
		"grant %q is not approved yet; ask a data steward other than yourself to approve it",
		[grant.metadata.name],
	)
}

# METADATA
# title: Grant approval not recorded
# description: |
#   spec.approved is true but the webhook recorded no approver in the voxgate.io/approved-by
#   annotation, so nobody can tell who approved it.
# custom:
#   code: GrantNotApproved
#   severity: critical
problems contains {"grant": i, "code": "GrantNotApproved", "message": message} if {
	some i in applicable
	grant := input.grants[i]
	grant.spec.approved == true
	not identity.username(grant, "voxgate.io/approved-by")
	message := sprintf(
		"grant %q is marked approved but no approver was recorded (annotation voxgate.io/approved-by); %s",
		[grant.metadata.name, "a data steward must approve it through the Kubernetes API so the webhook records who did"],
	)
}

# METADATA
# title: Grant not yet valid
# description: The grant's spec.validFrom is after now.
# custom:
#   code: GrantNotYetValid
#   severity: medium
problems contains {"grant": i, "code": "GrantNotYetValid", "message": message} if {
	some i in applicable
	grant := input.grants[i]
	timestamps.parse(grant.spec.validFrom) > _now
	message := sprintf(
		"grant %q is valid only from %s; wait until then or ask the data steward to move validFrom",
		[grant.metadata.name, grant.spec.validFrom],
	)
}

# METADATA
# title: Grant expired
# description: The grant's spec.expiresAt is not after now.
# custom:
#   code: GrantExpired
#   severity: critical
problems contains {"grant": i, "code": "GrantExpired", "message": message} if {
	some i in applicable
	grant := input.grants[i]
	timestamps.parse(grant.spec.expiresAt) <= _now
	message := sprintf(
		"grant %q expired at %s; ask the data steward to renew it or issue a new grant",
		[grant.metadata.name, grant.spec.expiresAt],
	)
}

# METADATA
# title: Grant approved by the requester
# description: |
#   The requester approved the grant they would use: their username is the one recorded in the
#   grant's voxgate.io/approved-by annotation.
# custom:
#   code: SelfApprovedGrant
#   severity: critical
problems contains {"grant": i, "code": "SelfApprovedGrant", "message": message} if {
	some i in applicable
	grant := input.grants[i]
	identity.username(grant, "voxgate.io/approved-by") == input.requester.username
	message := sprintf(
		"grant %q was approved by %q, who is also requesting this job; another data steward must approve the grant",
		[grant.metadata.name, input.requester.username],
	)
}

# METADATA
# title: Grant approved by its own requester
# description: |
#   With config.grants.twoPersonApproval, the identity that requested the grant
#   (voxgate.io/requested-by) also approved it (voxgate.io/approved-by).
# custom:
#   code: SelfApprovedGrant
#   severity: critical
problems contains {"grant": i, "code": "SelfApprovedGrant", "message": message} if {
	config.grants.twoPersonApproval == true
	some i in applicable
	grant := input.grants[i]
	approver := identity.username(grant, "voxgate.io/approved-by")
	approver == identity.username(grant, "voxgate.io/requested-by")
	message := sprintf(
		"grant %q was requested and approved by the same person (%q); a second data steward must approve it",
		[grant.metadata.name, approver],
	)
}

# METADATA
# title: Institution not consented
# description: |
#   The dataset's consent is limited to some institutions and the grant's
#   spec.grantee.institution is not one of them (or the grant names none).
# custom:
#   code: InstitutionNotConsented
#   severity: critical
problems contains {"grant": i, "code": "InstitutionNotConsented", "message": message} if {
	institutions := input.dataset.spec.consent.institutions
	count(institutions) > 0
	some i in applicable
	grant := input.grants[i]
	institution := object.get(grant.spec.grantee, "institution", "none")
	not institution in institutions
	message := sprintf(
		"grant %q is for institution %q but the speakers of dataset %s consented only to [%s]; %s",
		[
			grant.metadata.name, institution, _dataset, concat(", ", institutions),
			"the data steward must grant to a consented institution",
		],
	)
}

# METADATA
# title: Grant budget exceeded
# description: |
#   The composed epsilon of the runs charged to the grant with this job's run added
#   (ledger.grants[<grant>].epsilonAfter, what the privacy ledger checks) is more than the
#   grant's allowance (spec.privacy.epsilon).
# custom:
#   code: GrantBudgetExceeded
#   severity: high
problems contains {"grant": i, "code": "GrantBudgetExceeded", "message": message} if {
	epsilon := input.privacy.epsilon
	is_number(epsilon)
	some i in applicable
	grant := input.grants[i]
	after := composed_after(grant, input.ledger.grants)
	after > grant.spec.privacy.epsilon
	message := sprintf(
		"with this job (epsilon %v on its own) the composed privacy loss charged to grant %q would be %v, %s; %s",
		[
			display.epsilon(epsilon), grant.metadata.name, display.epsilon(after),
			sprintf(
				"over its allowance %v (%v already used or reserved)",
				[grant.spec.privacy.epsilon, display.epsilon(committed(grant, input.ledger.grants))],
			),
			"lower the job's epsilon (more noise, fewer steps or a lower sampleRate) or ask for a larger allowance",
		],
	)
}

# METADATA
# title: Grant budget exceeded (without a composed figure)
# description: |
#   When the ledger entry of the grant has no epsilonAfter (offline voxgate check), the job's own
#   epsilon is more than the grant's allowance has left. A conservative stand-in: composed with
#   the grant's committed runs, a run adds much less than its own epsilon.
# custom:
#   code: GrantBudgetExceeded
#   severity: high
problems contains {"grant": i, "code": "GrantBudgetExceeded", "message": message} if {
	epsilon := input.privacy.epsilon
	is_number(epsilon)
	some i in applicable
	grant := input.grants[i]
	not composed_after(grant, input.ledger.grants)
	left := remaining(grant, input.ledger.grants)
	epsilon > left
	message := sprintf(
		"the job would spend epsilon %v but grant %q has %v of its %v left; %s",
		[
			display.epsilon(epsilon), grant.metadata.name, display.epsilon(left), grant.spec.privacy.epsilon,
			"lower the job's epsilon (more noise, fewer steps or a lower sampleRate) or ask for a larger allowance",
		],
	)
}
