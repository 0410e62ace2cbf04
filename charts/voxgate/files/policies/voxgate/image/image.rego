# METADATA
# title: Trainer image
# description: |
#   The trainer image is pinned by digest, so the code that sees decrypted speech is exactly the
#   code that was reviewed, and it comes from a registry the organisation controls
#   (data.voxgate.config.images.approvedRegistries).
package voxgate.image

import data.voxgate.config
import data.voxgate.lib.imageref

# METADATA
# title: Image not pinned
# description: spec.image does not end in @sha256:<64 hex digits>.
# custom:
#   code: ImageNotPinned
#   severity: high
deny contains {"code": "ImageNotPinned", "message": message} if {
	image := input.trainingJob.spec.image
	is_string(image)
	not imageref.pinned(image)
	message := sprintf(
		"spec.image %q is not pinned by digest; reference it as %s@sha256:<digest> (%s)",
		[image, imageref.repository(image), "`crane digest <image>` prints the digest"],
	)
}

# METADATA
# title: Registry not approved
# description: spec.image is not from one of the approved registries.
# custom:
#   code: RegistryNotApproved
#   severity: high
deny contains {"code": "RegistryNotApproved", "message": message} if {
	image := input.trainingJob.spec.image
	is_string(image)
	registries := config.images.approvedRegistries
	not imageref.from_registry(image, registries)
	message := sprintf(
		"spec.image %q is not from an approved registry; push the trainer to one of [%s] and reference it there",
		[image, concat(", ", registries)],
	)
}
