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
