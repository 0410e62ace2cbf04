# METADATA
# title: Differential privacy and budgets
# description: |
#   Per tier: whether DP-SGD is required, the least noise accepted and the most epsilon one job
#   may spend (data.voxgate.config.tiers[<tier>]). Across jobs: the dataset's composed privacy
#   loss with the job's run added (input.ledger.epsilonAfter) must stay within its budget; when
#   the caller could not compose it, the job's own epsilon must fit in what the budget has left,
#   a conservative stand-in because privacy loss composes sub-additively. The job's epsilon comes
#   from the operator's accountant (input.privacy), computed from trainingJob.spec.privacy. The
#   grant's own allowance is checked in package voxgate.grants.
package voxgate.privacy

import data.voxgate.config
import data.voxgate.lib.display

_controls := config.tiers[input.dataset.spec.tier]

_epsilon := input.privacy.epsilon if is_number(input.privacy.epsilon)

_has_dp if is_object(input.trainingJob.spec.privacy)

# METADATA
# title: DP required
# description: The dataset's tier requires differential privacy and the job sets no spec.privacy.
# custom:
#   code: DPRequired
#   severity: critical
deny contains {"code": "DPRequired", "message": message} if {
	_controls.dpRequired == true
	is_object(input.trainingJob.spec)
	not _has_dp
	message := sprintf(
		"%s-tier datasets may only be trained with differential privacy; %s",
		[
			input.dataset.spec.tier,
			"set spec.privacy (noiseMultiplier, maxGradNorm, sampleRate, steps and delta) to train with DP-SGD",
		],
	)
}

# METADATA
# title: Noise too low
# description: The job's DP-SGD noise multiplier is below the tier's minNoiseMultiplier.
# custom:
#   code: NoiseTooLow
#   severity: high
deny contains {"code": "NoiseTooLow", "message": message} if {
	minimum := _controls.minNoiseMultiplier
	is_number(minimum)
	noise := input.trainingJob.spec.privacy.noiseMultiplier
	is_number(noise)
	noise < minimum
	message := sprintf(
		"spec.privacy.noiseMultiplier %v is below the minimum %v for %s-tier datasets; raise it to at least %v",
		[noise, minimum, input.dataset.spec.tier, minimum],
	)
}

# METADATA
# title: Epsilon exceeds the tier limit
# description: The job's epsilon is more than the tier's maxEpsilonPerJob.
# custom:
#   code: EpsilonExceedsTierLimit
#   severity: high
deny contains {"code": "EpsilonExceedsTierLimit", "message": message} if {
	limit := _controls.maxEpsilonPerJob
	is_number(limit)
	_epsilon > limit
	message := sprintf(
		"the job would spend epsilon %v but one job on a %s-tier dataset may spend at most %v; %s",
		[display.epsilon(_epsilon), input.dataset.spec.tier, limit, "raise noiseMultiplier, or lower steps or sampleRate"],
	)
}

# METADATA
# title: Dataset budget exceeded
# description: |
#   The dataset's composed epsilon with this job's run added (ledger.epsilonAfter: every spent
#   and reserved run and this one in one accountant, what the privacy ledger checks when it
#   reserves the job) is more than the dataset's budget.
# custom:
#   code: DatasetBudgetExceeded
#   severity: critical
deny contains {"code": "DatasetBudgetExceeded", "message": message} if {
	is_number(_epsilon)
	after := dataset_after(input.ledger)
	after > input.ledger.epsilonTotal
	message := sprintf(
		"with this job (epsilon %v on its own) the composed privacy loss of dataset %q would be %v, %s; %s",
		[
			display.epsilon(_epsilon), input.dataset.metadata.name, display.epsilon(after),
			sprintf(
				"over its budget %v (%v already spent or reserved)",
				[input.ledger.epsilonTotal, display.epsilon(dataset_committed(input.ledger))],
			),
			"spend less (more noise, fewer steps, lower sampleRate); spent privacy budget is never refunded",
		],
	)
}

# METADATA
# title: Dataset budget exceeded (without a composed figure)
# description: |
#   When the input has no ledger.epsilonAfter (offline voxgate check), the job's own epsilon is
#   more than what the dataset's budget has left (the smaller of the ledger's epsilonRemaining
#   and epsilonTotal - epsilonSpent - epsilonReserved). A conservative stand-in: composed with
#   the committed runs, a run adds much less than its own epsilon, so this denies jobs the ledger
#   would accept. (The ledger still checks the composed figure when it reserves the job.)
# custom:
#   code: DatasetBudgetExceeded
#   severity: critical
deny contains {"code": "DatasetBudgetExceeded", "message": message} if {
	not _composed
	left := dataset_remaining(input.ledger)
	_epsilon > left
	message := sprintf(
		"the job would spend epsilon %v but dataset %q has %v of its budget %v left; %s",
		[
			display.epsilon(_epsilon), input.dataset.metadata.name, display.epsilon(left), input.ledger.epsilonTotal,
			"spend less (more noise, fewer steps, lower sampleRate); spent privacy budget is never refunded",
		],
	)
}

# METADATA
# title: Delta exceeds the dataset's delta
# description: |
#   The job's delta is larger than the delta the dataset's budget is accounted at, so its
#   epsilon could not be charged against that budget.
# custom:
#   code: DeltaExceedsDatasetBudget
#   severity: high
deny contains {"code": "DeltaExceedsDatasetBudget", "message": message} if {
	delta := input.privacy.delta
	is_number(delta)
	budget_delta := input.dataset.spec.privacy.budget.delta
	is_number(budget_delta)
	delta > budget_delta
	message := sprintf(
		"spec.privacy.delta %v is larger than the delta %v that dataset %q's budget is accounted at; %s",
		[delta, budget_delta, input.dataset.metadata.name, sprintf("set it to at most %v", [budget_delta])],
	)
}

# Whether the caller sent the composed figure; without it the conservative rule applies.
_composed if is_number(input.ledger.epsilonAfter)

# METADATA
# title: Remaining dataset budget
# description: |
#   What ledger says the dataset has left, never more than its total minus what is spent and
#   reserved (so an inconsistent ledger can only make the policy stricter).
dataset_remaining(ledger) := min([
	ledger.epsilonRemaining,
	(ledger.epsilonTotal - ledger.epsilonSpent) - ledger.epsilonReserved,
])

# METADATA
# title: Committed dataset epsilon
# description: |
#   The composed epsilon of the dataset's spent and reserved runs, as the ledger reports it
#   (epsilonReserved is what the reservations add on top of the spent runs).
dataset_committed(ledger) := ledger.epsilonSpent + ledger.epsilonReserved

# METADATA
# title: Composed dataset epsilon with the job
# description: |
#   ledger.epsilonAfter, undefined unless it is a number. Never less than what is already
#   committed: adding a run cannot lower the composed epsilon, so an inconsistent figure can only
#   make the policy stricter.
dataset_after(ledger) := max([ledger.epsilonAfter, dataset_committed(ledger)]) if is_number(ledger.epsilonAfter)
