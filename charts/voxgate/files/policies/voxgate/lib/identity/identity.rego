# METADATA
# title: Request identities stamped by the webhook
# description: |
#   The mutating webhook records who requested, approved or revoked an object in annotations
#   (voxgate.io/requested-by, voxgate.io/approved-by, voxgate.io/revoked-by), each a JSON
#   object {"username": ..., "groups": [...]}. Identity is never read from spec fields.
package voxgate.lib.identity

# METADATA
# title: Recorded username
# description: |
#   The username recorded in annotation key of a Kubernetes object; undefined when the
#   annotation is missing, is not JSON, or has no non-empty username.
username(obj, key) := user.username if {
	raw := obj.metadata.annotations[key]
	is_string(raw)
	json.is_valid(raw)
	user := json.unmarshal(raw)
	is_string(user.username)
	user.username != ""
}

# METADATA
# title: ServiceAccount username
# description: The username Kubernetes gives ServiceAccount name in namespace.
service_account_username(namespace, name) := sprintf("system:serviceaccount:%s:%s", [namespace, name])
