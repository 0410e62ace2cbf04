package voxgate.image_test

import data.voxgate.config
import data.voxgate.image
import data.voxgate.testing

_allowed := data.samples.call_centre_allowed

_image(ref) := json.patch(_allowed, [testing.put("/trainingJob/spec/image", ref)])

_digest := "sha256:3f1c9d2a7b4e8f60c5d1a9e2b7c4f8a03d6e1b9c2a5f7e8d0c3b6a9f2e5d8c1b"

test_pinned_image_from_approved_registry_is_not_denied if {
	count(image.deny) == 0 with input as _allowed
	count(image.deny) == 0 with input as _image(sprintf("ghcr.io/voxgate/trainer@%s", [_digest]))
}

test_tag_only_is_not_pinned if {
	denials := image.deny with input as _image("registry.voxgate.internal/asr/whisper-dp-trainer:1.4.2")
	{denial.code | some denial in denials} == {"ImageNotPinned"}
	some denial in denials
	contains(denial.message, "registry.voxgate.internal/asr/whisper-dp-trainer@sha256:<digest>")
}

test_unapproved_registry if {
	denials := image.deny with input as _image(sprintf("ghcr.io/voxgate-tools/trainer@%s", [_digest]))
	{denial.code | some denial in denials} == {"RegistryNotApproved"}
	some denial in denials
	contains(denial.message, "[registry.voxgate.internal, ghcr.io/voxgate, registry.example.org/speech]")
}

test_registries_are_data if {
	count(image.deny) == 0 with input as _image(sprintf("quay.io/acme/trainer@%s", [_digest]))
		with config as json.patch(config, [testing.put("/images/approvedRegistries", ["quay.io/acme"])])
}
