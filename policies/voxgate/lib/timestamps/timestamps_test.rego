package voxgate.lib.timestamps_test

import data.voxgate.lib.timestamps

test_parses_rfc3339 if {
	timestamps.parse("1970-01-01T00:00:01Z") == 1000000000
	timestamps.parse("1970-01-01T01:00:00+01:00") == 0
	timestamps.parse("2025-06-01T12:00:00.5Z") == timestamps.parse("2025-06-01T12:00:00Z") + 500000000
}

test_rejects_other_strings_and_types if {
	every ts in ["yesterday", "2025-06-01", "2025-06-01 12:00:00Z", "2025-13-01T00:00:00Z", 1717243200, null] {
		not timestamps.valid(ts)
	}
}
