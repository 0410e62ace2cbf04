package voxgate.lib.identity_test

import data.voxgate.lib.identity

_object(annotations) := {"metadata": {"annotations": annotations}}

test_username_from_annotation if {
	obj := _object({"voxgate.io/approved-by": `{"username":"sam@example.com","groups":["data-stewards"]}`})
	identity.username(obj, "voxgate.io/approved-by") == "sam@example.com"
}

test_no_username_when_missing_or_malformed if {
	not identity.username(_object({}), "voxgate.io/approved-by")
	not identity.username({"metadata": {}}, "voxgate.io/approved-by")
	every raw in [`not json`, `{"groups":[]}`, `{"username":""}`, `{"username":7}`, `"sam"`] {
		not identity.username(_object({"voxgate.io/approved-by": raw}), "voxgate.io/approved-by")
	}
}

test_service_account_username if {
	identity.service_account_username("team-asr", "asr-trainer") == "system:serviceaccount:team-asr:asr-trainer"
}
