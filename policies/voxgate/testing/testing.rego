# METADATA
# title: Test helpers
# description: |
#   JSON Patch shorthands the policy tests use to derive inputs from the samples, e.g.
#   json.patch(data.samples.call_centre_allowed, [testing.put("/now", "2027-07-01T00:00:00Z")]).
#   Paths are JSON pointers ("/grants/0/spec/revoked"; "~1" stands for "/") or arrays of keys.
package voxgate.testing

# METADATA
# title: Put
# description: A patch operation replacing the value at path (which must exist).
put(path, value) := {"op": "replace", "path": path, "value": value}

# METADATA
# title: Add
# description: A patch operation adding value at path (a new key, or "-" to append to an array).
add(path, value) := {"op": "add", "path": path, "value": value}

# METADATA
# title: Remove
# description: A patch operation removing the value at path.
remove(path) := {"op": "remove", "path": path}
