# METADATA
# title: RFC 3339 timestamps
# description: |
#   Time comes into the policy only as data (input.now and the timestamps in objects), never
#   from the clock, so that a decision can be reproduced later from its input.
package voxgate.lib.timestamps

_rfc3339 := `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

# METADATA
# title: Parse a timestamp
# description: Nanoseconds since the epoch for an RFC 3339 string; undefined for anything else.
parse(ts) := time.parse_rfc3339_ns(ts) if {
	is_string(ts)
	regex.match(_rfc3339, ts)
}

# METADATA
# title: Valid timestamp
# description: True when ts is an RFC 3339 timestamp.
valid(ts) if parse(ts)
