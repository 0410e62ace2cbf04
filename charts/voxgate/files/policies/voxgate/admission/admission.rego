# METADATA
# title: voxgate admission
# description: |
#   The one question the admission webhook, the reconciler and `voxgate check` ask OPA:
#   data.voxgate.admission.decision. It is always defined: malformed input and broken policy
#   data are denials, never an undefined result (fail closed).
#
#   To add a rule: write it in the package of its concern (or a new folder under
#   policies/voxgate/ with its own package) as `deny contains {"code": ..., "message": ...}`,
#   test it beside it, and if it is a new package add its deny set to _checks below.
package voxgate.admission

import data.voxgate.consent
import data.voxgate.grants
import data.voxgate.image
import data.voxgate.obligations
import data.voxgate.policy_data
import data.voxgate.privacy
import data.voxgate.provenance
import data.voxgate.resources
import data.voxgate.tier_purpose
import data.voxgate.validation

# METADATA
# title: Admission decision
# description: |
#   {"allow": bool, "denials": [{"code", "message"}], "obligations": {...}}. allow is true
#   exactly when there are no denials; denials are sorted by code, then message. The
#   obligations are there even when denied; chargeGrant is then null (nothing is charged).
# entrypoint: true
decision := {
	"allow": _allow,
	"denials": sort(_denials),
	"obligations": _final_obligations,
}

default _allow := false

_allow if count(_denials) == 0

_final_obligations := _obligations if _allow

else := object.union(_obligations, {"chargeGrant": null})

# Every concern's denials. A new concern package adds its deny set here.
_checks := [
	consent.deny,
	grants.deny,
	image.deny,
	privacy.deny,
	provenance.deny,
	resources.deny,
	tier_purpose.deny,
]

# While the input is malformed only InvalidInput is reported: the other rules cannot judge a
# request they cannot read, and their findings would be noise. Broken policy data is always
# reported: with it no decision can be trusted.
_denials := validation.deny | _policy_data_denials if {
	count(validation.deny) > 0
} else := {denial | some denials in _checks; some denial in denials} | _policy_data_denials

_policy_data_denials := policy_data.deny | _obligations_missing

default _obligations := {}

_obligations := obligations.workload

default _tier := "(none)"

_tier := obligations.tier

# METADATA
# title: Obligations missing
# description: |
#   The obligations cannot be computed because data.voxgate.config lacks a control for the
#   tier (a broken edit of policies/voxgate/config/data.yaml). A backstop for what
#   voxgate.policy_data does not check.
# custom:
#   code: PolicyDataInvalid
#   severity: critical
_obligations_missing contains {"code": "PolicyDataInvalid", "message": message} if {
	_obligations == {}
	message := sprintf(
		"the policy data has no complete controls for tier %q; %s",
		[_tier, "a compliance officer must fix policies/voxgate/config/data.yaml (opa test policies/ shows what)"],
	)
}
