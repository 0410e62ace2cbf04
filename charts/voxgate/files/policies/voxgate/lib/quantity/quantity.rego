# METADATA
# title: Kubernetes resource quantities
# description: |
#   Parses quantities as Kubernetes writes them (500m, 4, 1.5, 16Gi, 100M, 1e3) into plain
#   numbers: cores for cpu, bytes for memory and storage, devices for extended resources.
package voxgate.lib.quantity

# Suffixes and what they scale by (Kubernetes resource.Quantity: decimal SI, binary SI),
# as [multiplier, divisor] so that milli and smaller stay exact decimals.
_scale := {
	"": [1, 1],
	"n": [1, 1000000000],
	"u": [1, 1000000],
	"m": [1, 1000],
	"k": [1000, 1],
	"M": [1000000, 1],
	"G": [1000000000, 1],
	"T": [1000000000000, 1],
	"P": [1000000000000000, 1],
	"E": [1000000000000000000, 1],
	"Ki": [1024, 1],
	"Mi": [1048576, 1],
	"Gi": [1073741824, 1],
	"Ti": [1099511627776, 1],
	"Pi": [1125899906842624, 1],
	"Ei": [1152921504606846976, 1],
}

_suffixed := `^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$`

_exponent := `^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+$`

# METADATA
# title: Parse a quantity
# description: |
#   The number a non-negative Kubernetes quantity stands for. A plain JSON number is taken as
#   is. Undefined for anything else (negative, empty, unknown suffix, not a string or number),
#   so callers can write `not quantity.parse(q)` to find invalid ones.
# scope: document
parse(q) := q if {
	is_number(q)
	q >= 0
}

parse(q) := (to_number(match[1]) * multiplier) / divisor if {
	is_string(q)
	some match in regex.find_all_string_submatch_n(_suffixed, q, 1)
	[multiplier, divisor] := _scale[match[2]]
}

parse(q) := to_number(q) if {
	is_string(q)
	regex.match(_exponent, q)
}

# METADATA
# title: Valid quantity
# description: |
#   True when q is a quantity parse understands, with one match instead of a parse: the policy
#   data's caps are checked on every decision.
# scope: document
valid(q) if {
	is_number(q)
	q >= 0
}

valid(q) if {
	is_string(q)
	regex.match(_valid, q)
}

_valid := `^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?|[eE][+-]?[0-9]+)$`
