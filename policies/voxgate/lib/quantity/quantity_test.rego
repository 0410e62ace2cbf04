package voxgate.lib.quantity_test

import data.voxgate.lib.quantity

test_parses_kubernetes_quantities if {
	every q, want in {
		"500m": 0.5,
		"4": 4,
		"1.5": 1.5,
		".5": 0.5,
		"16Gi": 17179869184,
		"2Ki": 2048,
		"128974848": 128974848,
		"100M": 100000000,
		"1k": 1000,
		"250u": 0.00025,
		"1e3": 1000,
		"2E": 2000000000000000000,
		"1Ti": 1099511627776,
	} {
		quantity.parse(q) == want
	}
}

test_takes_plain_numbers_as_they_are if {
	quantity.parse(4) == 4
	quantity.parse(0.25) == 0.25
}

test_rejects_what_is_not_a_quantity if {
	every q in ["", "-1", "lots", "1.5.5", "16GB", "16 Gi", "Gi", "1e", -2, null, true, ["4"]] {
		not quantity.valid(q)
	}
}

test_compares_across_suffixes if {
	quantity.parse("500m") < quantity.parse("1")
	quantity.parse("16Gi") < quantity.parse("20G")
	quantity.parse("64Gi") == quantity.parse("65536Mi")
}

# valid is a single match, parse the real work: the two must agree on every kind of input.
test_valid_exactly_when_parse_is_defined if {
	samples := [
		"500m", "4", "1.5", ".5", "1.", "0", "16Gi", "2Ki", "100M", "1k", "250u", "1e3", "1E3",
		"2.5e-3", ".5e2", "1.e2", "2E", "1Ti", "7n", "", "-1", "+1", "lots", "1.5.5", "16GB",
		"16 Gi", "Gi", "1e", "e3", "1e3Gi", "1Gie3", ".", "1..", "0x10", " 1", "1 ", "Infinity",
		"NaN", 4, 0, 0.25, -2, null, true, ["4"], {"q": "4"},
	]
	every q in samples {
		_valid(q) == _parsed(q)
	}
}

default _valid(_) := false

_valid(q) if quantity.valid(q)

default _parsed(_) := false

_parsed(q) if quantity.parse(q)
