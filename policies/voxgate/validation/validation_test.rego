package voxgate.validation_test

import data.voxgate.testing
import data.voxgate.validation

_allowed := data.samples.call_centre_allowed

_patched(ops) := json.patch(_allowed, ops)

test_complete_input_has_no_problems if {
	count(validation.problems) == 0 with input as _allowed
	every sample in object.remove(data.samples, ["malformed"]) {
		count(validation.problems) == 0 with input as sample
	}
}

test_malformed_sample if {
	validation.problems == {
		"ledger must be an object, but it is missing",
		"now must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z, but it is yesterday",
		"trainingJob.spec.image must be a string, but it is missing",
		`trainingJob.spec.resources.limits["memory"] must be a Kubernetes quantity such as 500m, 4 or 16Gi, but it is lots`,
		"trainingJob.spec.workers must be an integer of at least 1",
	} with input as data.samples.malformed
	{denial.code | some denial in validation.deny} == {"InvalidInput"} with input as data.samples.malformed
}

test_not_an_object if {
	every doc in [null, "job", 42, ["trainingJob"]] {
		validation.problems == {concat(" ", [
			"input must be a JSON object with trainingJob, dataset, parents, grants,",
			"ledger, privacy, requester and now",
		])} with input as doc
	}
}

test_missing_parent_field_is_one_problem if {
	without_job := object.remove(_allowed, ["trainingJob"])
	validation.problems == {"trainingJob must be an object, but it is missing"} with input as without_job

	bad_spec := _patched([testing.put("/dataset/spec", "raw")])
	validation.problems == {"dataset.spec must be an object, but it is a string"} with input as bad_spec
}

test_optional_fields_have_types if {
	problems := validation.problems with input as _patched([
		testing.put("/trainingJob/spec/workers", "4"),
		testing.add("/trainingJob/spec/grantRef", "team-asr-callcentre"),
	])
	problems == {
		"trainingJob.spec.workers must be a number when set, but it is a string",
		"trainingJob.spec.grantRef must be an object when set, but it is a string",
	}
}

test_job_fields if {
	problems := validation.problems with input as _patched([
		testing.put("/trainingJob/spec/workers", 1.5),
		testing.add("/trainingJob/spec/grantRef", {}),
		testing.put("/trainingJob/spec/resources/requests/cpu", "-2"),
	])
	problems == {
		"trainingJob.spec.workers must be an integer of at least 1",
		"trainingJob.spec.grantRef.name must be a string naming a DataGrant",
		concat("", [
			`trainingJob.spec.resources.requests["cpu"] must be a Kubernetes quantity `,
			"such as 500m, 4 or 16Gi, but it is -2",
		]),
	}
}

test_dp_parameters if {
	problems := validation.problems with input as _patched([testing.put("/trainingJob/spec/privacy", {
		"noiseMultiplier": 0,
		"maxGradNorm": "1",
		"sampleRate": 1.5,
		"steps": 0.5,
	})])
	problems == {
		"trainingJob.spec.privacy.noiseMultiplier must be a number greater than 0",
		"trainingJob.spec.privacy.maxGradNorm must be a number greater than 0",
		"trainingJob.spec.privacy.sampleRate must be a number greater than 0 and at most 1",
		"trainingJob.spec.privacy.steps must be an integer of at least 1",
		"trainingJob.spec.privacy.delta must be a number between 0 and 1 (exclusive)",
	}
}

test_accountant_result_must_match_the_job if {
	no_epsilon := _patched([testing.put("/privacy", {})])
	problems := validation.problems with input as no_epsilon
	problems == {"privacy.epsilon must be the job's epsilon when trainingJob.spec.privacy is set"}

	no_dp := _patched([testing.remove("/trainingJob/spec/privacy")])
	validation.problems == {"privacy.epsilon must be null when trainingJob.spec.privacy is not set"} with input as no_dp

	validation.problems == {
		"privacy.epsilon must not be negative",
		"privacy.delta must be the job's delta (between 0 and 1) when privacy.epsilon is set",
	} with input as _patched([testing.put("/privacy", {"epsilon": -1, "delta": null})])
}

test_requester if {
	validation.problems == {
		"requester.username must not be empty",
		"requester.groups[1] must be a string",
		concat("", [
			`requester.serviceAccount "asr-trainer" does not match requester.username ""; `,
			"set it only for a ServiceAccount of the job's namespace",
		]),
	} with input as _patched([
		testing.put("/requester/username", ""),
		testing.put("/requester/groups", ["ok", 7]),
	])
}

test_dataset if {
	problems := validation.problems with input as _patched([
		testing.put("/dataset/spec/tier", "secret"),
		testing.put("/dataset/metadata/name", "other"),
		testing.put("/dataset/spec/consent/purposes", ["asr-training", 1]),
		testing.put("/dataset/spec/consent/expiresAt", "soon"),
		testing.add("/dataset/spec/derivedFrom/-", {"name": "gone", "transformation": "magic"}),
		testing.add("/dataset/spec/derivedFrom/-", {"name": 3}),
	])
	problems == {
		concat("", [
			`dataset.spec.tier "secret" is not a known tier; `,
			"it must be one of raw, pseudonymized, anonymized, features, synthetic",
		]),
		concat("", [
			"dataset speech-data/other is not the dataset trainingJob.spec.datasetRef names ",
			"(speech-data/callcentre-en-2024-pseudo)",
		]),
		"dataset.spec.consent.purposes[1] must be a string",
		"dataset.spec.consent.expiresAt must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z, but it is soon",
		concat("", [
			`dataset.spec.derivedFrom[1].transformation "magic" is not known; it must be one of `,
			"anonymization, augmentation, feature-extraction, pseudonymization, subset, synthesis",
		]),
		`parents must include the SpeechDataset "gone" named in dataset.spec.derivedFrom[1]`,
		"dataset.spec.derivedFrom[2].name must be a string, but it is a number",
		"dataset.spec.derivedFrom[2].transformation must be a string, but it is missing",
	}
}

test_dataset_namespace_defaults_to_the_jobs if {
	validation.problems == {concat("", [
		"dataset speech-data/callcentre-en-2024-pseudo is not the dataset trainingJob.spec.datasetRef names ",
		"(team-asr/callcentre-en-2024-pseudo)",
	])} with input as _patched([testing.remove("/trainingJob/spec/datasetRef/namespace")])
}

test_parents if {
	problems := validation.problems with input as _patched([
		testing.put("/parents/0/spec/tier", "secret"),
		testing.put("/parents/0/spec/consent/institutions", [true]),
		testing.put("/parents/0/spec/consent/expiresAt", 2027),
		testing.add("/parents/-", {"metadata": {"name": "x"}, "spec": {"consent": {"institutions": "any"}}}),
		testing.add("/parents/-", "callcentre-en-2024-raw"),
	])
	problems == {
		"parents[0].spec.tier \"secret\" is not a known tier",
		"parents[0].spec.consent.institutions[0] must be a string",
		"parents[0].spec.consent.expiresAt must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z, but it is 2027",
		"parents[1].spec.tier must be a string, but it is missing",
		"parents[1].spec.consent.purposes must be an array, but it is missing",
		"parents[1].spec.consent.institutions must be an array when set, but it is a string",
		"parents[2] must be an object, but it is a string",
	}
}

test_grants if {
	problems := validation.problems with input as _patched([
		testing.put("/grants/0/spec/approved", "yes"),
		testing.put("/grants/0/spec/validFrom", "2025-01-01"),
		testing.put("/grants/0/spec/grantee/serviceAccounts", [null]),
		testing.add("/grants/-", {"metadata": {"name": "b", "namespace": "speech-data"}}),
		testing.add("/grants/-", {"metadata": {"name": "b", "namespace": "speech-data"}, "spec": {}}),
	])
	problems == {
		"grants[0].spec.approved must be a boolean when set, but it is a string",
		"grants[0].spec.validFrom must be an RFC 3339 timestamp such as 2025-01-31T12:00:00Z, but it is 2025-01-01",
		"grants[0].spec.grantee.serviceAccounts[0] must be a string",
		"grants[1].spec must be an object, but it is missing",
		"grants[2].spec.datasetRef.name must be a string, but it is missing",
		"grants[2].spec.grantee.namespace must be a string, but it is missing",
		"grants[2].spec.purposes must be an array, but it is missing",
		"grants[2].spec.privacy.epsilon must be a number, but it is missing",
		"grants lists the DataGrant speech-data/b more than once",
	}
}

test_ledger if {
	problems := validation.problems with input as _patched([
		testing.put("/ledger/epsilonSpent", -0.5),
		{"op": "replace", "path": "/ledger/grants", "value": {
			"a": 1,
			"b": {"epsilonReserved": 0},
			"c": {"epsilonUsed": 1, "epsilonReserved": "0"},
		}},
	])
	problems == {
		"ledger.epsilonSpent must not be negative",
		`ledger.grants["a"] must be an object, but it is a number`,
		`ledger.grants["b"].epsilonUsed must be a number of at least 0`,
		`ledger.grants["c"].epsilonReserved must be a number of at least 0`,
	}
}

test_composed_ledger_figures if {
	composed := data.samples.call_centre_budget_composed
	count(validation.problems) == 0 with input as composed
	unknown := json.patch(composed, [
		testing.put("/ledger/epsilonAfter", null),
		testing.put("/ledger/grants/team-asr-callcentre/epsilonAfter", null),
		testing.remove("/ledger/grants/telecom-eval-callcentre/epsilonAfter"),
	])
	count(validation.problems) == 0 with input as unknown
	problems := validation.problems with input as json.patch(composed, [
		testing.put("/ledger/epsilonAfter", -1),
		testing.put("/ledger/grants/team-asr-callcentre/epsilonAfter", "5.6"),
		testing.put("/ledger/grants/telecom-eval-callcentre/epsilonAfter", -0.1),
	])
	problems == {
		"ledger.epsilonAfter must not be negative",
		`ledger.grants["team-asr-callcentre"].epsilonAfter must be a number of at least 0 when set`,
		`ledger.grants["telecom-eval-callcentre"].epsilonAfter must be a number of at least 0 when set`,
	}
	wrong_type := json.patch(composed, [testing.put("/ledger/epsilonAfter", "9.8")])
	validation.problems == {"ledger.epsilonAfter must be a number when set, but it is a string"} with input as wrong_type
}

test_type_problems_helper if {
	validation.type_problems({"a": {"b": 1}}, "x.", {"a": "object", "a.b": "string", "c": "array"}) == {
		"x.a.b must be a string, but it is a number",
		"x.c must be an array, but it is missing",
	}
	validation.type_problems(true, "x.", {"a": "object"}) == {"x must be an object, but it is a boolean"}
}
