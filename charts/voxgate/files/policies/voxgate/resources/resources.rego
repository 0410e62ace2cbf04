# METADATA
# title: Workers and resources
# description: |
#   Per-tier caps on how many workers a job may run and on what each worker may request or be
#   limited to (data.voxgate.config.tiers[<tier>].maxWorkers and .maxResourcesPerWorker).
#   Quantities are compared as numbers, so 500m < 1 and 16Gi < 20G.
package voxgate.resources

import data.voxgate.config
import data.voxgate.lib.quantity

_controls := config.tiers[input.dataset.spec.tier]

# METADATA
# title: Workers exceed the tier cap
# description: spec.workers (default 1) is more than the tier's maxWorkers.
# custom:
#   code: WorkersExceedTierCap
#   severity: medium
deny contains {"code": "WorkersExceedTierCap", "message": message} if {
	workers := object.get(input.trainingJob.spec, "workers", 1)
	is_number(workers)
	workers > _controls.maxWorkers
	message := sprintf(
		"spec.workers is %v but jobs on %s-tier datasets may run at most %v workers; lower spec.workers",
		[workers, input.dataset.spec.tier, _controls.maxWorkers],
	)
}

# METADATA
# title: Resources exceed the tier cap
# description: |
#   A worker's request or limit for a resource is above the tier's maxResourcesPerWorker, or
#   names a resource the tier does not list.
# custom:
#   code: ResourcesExceedTierCap
#   severity: medium
deny contains {"code": "ResourcesExceedTierCap", "message": message} if {
	some kind in ["requests", "limits"]
	some name, value in input.trainingJob.spec.resources[kind]
	cap := _controls.maxResourcesPerWorker[name]
	quantity.parse(value) > quantity.parse(cap)
	message := sprintf(
		"spec.resources.%s[%q] is %v but a worker on a %s-tier dataset may have at most %v; lower it",
		[kind, name, value, input.dataset.spec.tier, cap],
	)
}

deny contains {"code": "ResourcesExceedTierCap", "message": message} if {
	some kind in ["requests", "limits"]
	some name, _ in input.trainingJob.spec.resources[kind]
	caps := _controls.maxResourcesPerWorker
	not name in object.keys(caps)
	message := sprintf(
		"spec.resources.%s[%q] is not available to jobs on %s-tier datasets; remove it (allowed: %s)",
		[kind, name, input.dataset.spec.tier, concat(", ", sort(object.keys(caps)))],
	)
}
