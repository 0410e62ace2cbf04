package voxgate.lib.imageref_test

import data.voxgate.lib.imageref

_digest := "sha256:3f1c9d2a7b4e8f60c5d1a9e2b7c4f8a03d6e1b9c2a5f7e8d0c3b6a9f2e5d8c1b"

test_pinned_by_digest if {
	imageref.pinned(sprintf("registry.voxgate.internal/asr/trainer@%s", [_digest]))
	imageref.pinned(sprintf("registry.voxgate.internal/asr/trainer:1.4.2@%s", [_digest]))
}

test_not_pinned if {
	every image in [
		"registry.voxgate.internal/asr/trainer:1.4.2",
		"registry.voxgate.internal/asr/trainer",
		"registry.voxgate.internal/asr/trainer@sha256:abc",
		sprintf("registry.voxgate.internal/asr/trainer@%s", [upper(_digest)]),
		sprintf("trainer@%s ", [_digest]),
	] {
		not imageref.pinned(image)
	}
}

test_repository_drops_tag_and_digest_and_expands_docker_hub if {
	every image, want in {
		sprintf("registry.voxgate.internal:5000/asr/trainer:1.4@%s", [_digest]): "registry.voxgate.internal:5000/asr/trainer",
		"registry.voxgate.internal:5000/asr/trainer": "registry.voxgate.internal:5000/asr/trainer",
		"pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime": "docker.io/pytorch/pytorch",
		"ubuntu:24.04": "docker.io/library/ubuntu",
		"ubuntu": "docker.io/library/ubuntu",
		"localhost/trainer:dev": "localhost/trainer",
		"localhost:5000/trainer": "localhost:5000/trainer",
		"ghcr.io/voxgate/trainer": "ghcr.io/voxgate/trainer",
	} {
		imageref.repository(image) == want
	}
}

test_registry_matches_at_a_path_boundary if {
	registries := ["registry.voxgate.internal", "ghcr.io/voxgate/"]
	imageref.from_registry(sprintf("registry.voxgate.internal/asr/trainer@%s", [_digest]), registries)
	imageref.from_registry("ghcr.io/voxgate/trainer:1", registries)
	not imageref.from_registry("ghcr.io/voxgate-tools/trainer:1", registries)
	not imageref.from_registry("registry.voxgate.internal.evil.example/trainer", registries)
	not imageref.from_registry("trainer", registries)
}
