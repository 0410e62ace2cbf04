"""WorkloadPlan: everything the builders need for one admitted TrainingJob, checked once.

The plan refuses inputs that would make an unsafe or inconsistent workload (a denied decision, a
dataset other than the one the job names, DP settings other than the ones charged), so the
builders below it can read fields without re-checking them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.builders.errors import WorkloadPlanError
from voxgate.builders.names import ChildNames, child_labels, owner_reference, selector_labels
from voxgate.builders.resources import worker_resources
from voxgate.policy.decision import Decision
from voxgate.privacy.params import DPSGDParams, check_positive
from voxgate.settings import OperatorSettings

# CRD defaults, for objects that were not read back from the API server.
DEFAULT_WORKERS = 1
DEFAULT_ACTIVE_DEADLINE_SECONDS = 86400
DEFAULT_STORAGE_PATH = "/"
DEFAULT_MANIFEST = "manifest.json"


def lookup(document: Mapping[str, Any], path: str) -> object:
    """The value at a dotted path, or None when any part is missing."""
    value: object = document
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _string(document: Mapping[str, Any], kind: str, path: str, default: str | None = None) -> str:
    value = lookup(document, path)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value:
        raise WorkloadPlanError(f"{kind} {path} must be a non-empty string")
    return value


def _integer(document: Mapping[str, Any], kind: str, path: str, default: int) -> int:
    value = lookup(document, path)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise WorkloadPlanError(f"{kind} {path} must be a positive integer, got {value!r}")
    return value


def _strings(document: Mapping[str, Any], kind: str, path: str) -> list[str] | None:
    value = lookup(document, path)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WorkloadPlanError(f"{kind} {path} must be a list of strings")
    return list(value)


_DERIVED_FIELDS = (
    "names",
    "namespace",
    "labels",
    "image",
    "command",
    "args",
    "workers",
    "deadline_seconds",
    "claim_name",
    "storage_path",
    "manifest",
    "resources",
)


@dataclass(frozen=True)
class WorkloadPlan:
    job: Mapping[str, Any]  # the TrainingJob object as read from the API server
    dataset: Mapping[str, Any]  # the SpeechDataset it names
    decision: Decision  # the allowing decision the job was admitted under
    dp_params: DPSGDParams | None  # DPSGDParams.from_spec(job.spec.privacy), None without DP
    epsilon: float | None  # the epsilon charged to the ledger for dp_params
    settings: OperatorSettings

    def __post_init__(self) -> None:
        if not self.decision.allowed:
            raise WorkloadPlanError(f"TrainingJob {self.name} was denied; nothing may be built")
        owner_reference(self.job)  # name and uid present
        # Each derived field raises WorkloadPlanError when its source is bad; read them all once
        # so that the builders never meet a bad field halfway through.
        for name in _DERIVED_FIELDS:
            getattr(self, name)
        self._check_dataset()
        self._check_workers()
        self._check_privacy()

    # -- what the builders read --------------------------------------------------------------

    @property
    def name(self) -> str:
        return _string(self.job, "TrainingJob", "metadata.name")

    @property
    def namespace(self) -> str:
        return _string(self.job, "TrainingJob", "metadata.namespace")

    @property
    def uid(self) -> str:
        return _string(self.job, "TrainingJob", "metadata.uid")

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.job.get("spec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def image(self) -> str:
        return _string(self.job, "TrainingJob", "spec.image")

    @property
    def command(self) -> list[str] | None:
        return _strings(self.job, "TrainingJob", "spec.command")

    @property
    def args(self) -> list[str] | None:
        return _strings(self.job, "TrainingJob", "spec.args")

    @property
    def resources(self) -> dict[str, dict[str, str]]:
        """The trainer's resources: the job's own, or the tier's per-worker caps."""
        return worker_resources(self.spec.get("resources"), self.decision.obligations_document)

    @property
    def dataset_name(self) -> str:
        return _string(self.dataset, "SpeechDataset", "metadata.name")

    @property
    def dataset_namespace(self) -> str:
        return _string(self.dataset, "SpeechDataset", "metadata.namespace")

    @property
    def names(self) -> ChildNames:
        return ChildNames.for_job(self.name)

    @property
    def labels(self) -> dict[str, str]:
        return child_labels(self.name, self.dataset_name)

    @property
    def selector(self) -> dict[str, str]:
        return selector_labels(self.name)

    @property
    def workers(self) -> int:
        return _integer(self.job, "TrainingJob", "spec.workers", DEFAULT_WORKERS)

    @property
    def deadline_seconds(self) -> int:
        return _integer(
            self.job, "TrainingJob", "spec.activeDeadlineSeconds", DEFAULT_ACTIVE_DEADLINE_SECONDS
        )

    @property
    def claim_name(self) -> str:
        return _string(self.dataset, "SpeechDataset", "spec.storage.pvc.claimName")

    @property
    def storage_path(self) -> str:
        path = _string(self.dataset, "SpeechDataset", "spec.storage.pvc.path", DEFAULT_STORAGE_PATH)
        # The CRD refuses these too; a path that climbs out of the volume is never passed on.
        if not path.startswith("/") or ".." in path.split("/"):
            raise WorkloadPlanError(f"SpeechDataset spec.storage.pvc.path {path!r} is not safe")
        return path

    @property
    def manifest(self) -> str:
        manifest = _string(self.dataset, "SpeechDataset", "spec.storage.manifest", DEFAULT_MANIFEST)
        if "/" in manifest or manifest in (".", ".."):
            raise WorkloadPlanError(
                f"SpeechDataset spec.storage.manifest {manifest!r} is not a file name"
            )
        return manifest

    def metadata(self, name: str, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Metadata of one child: in the job's namespace, labelled, owned by the job."""
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels,
            "ownerReferences": [owner_reference(self.job)],
        }
        if annotations:
            metadata["annotations"] = dict(annotations)
        return metadata

    # -- consistency -------------------------------------------------------------------------

    def _check_dataset(self) -> None:
        wanted_name = lookup(self.job, "spec.datasetRef.name")
        wanted_namespace = lookup(self.job, "spec.datasetRef.namespace") or self.namespace
        actual = f"{self.dataset_namespace}/{self.dataset_name}"
        if f"{wanted_namespace}/{wanted_name}" != actual:
            raise WorkloadPlanError(
                f"TrainingJob {self.name} names dataset {wanted_namespace}/{wanted_name}, "
                f"not {actual}"
            )

    def _check_workers(self) -> None:
        cap = self.decision.obligations.max_workers
        if self.workers > cap:
            raise WorkloadPlanError(
                f"TrainingJob {self.name} asks for {self.workers} workers; obligations allow {cap}"
            )

    def _check_privacy(self) -> None:
        privacy = self.spec.get("privacy")
        if self.dp_params is None:
            if privacy is not None:
                raise WorkloadPlanError(
                    f"TrainingJob {self.name} sets spec.privacy but no DP parameters were charged"
                )
            if self.decision.obligations.require_dp:
                raise WorkloadPlanError(
                    f"obligations require DP but TrainingJob {self.name} has no spec.privacy"
                )
            return
        try:
            check_positive("epsilon", self.epsilon)
        except ValueError as error:
            raise WorkloadPlanError(f"charged {error} for TrainingJob {self.name}") from None
        if not isinstance(privacy, Mapping):
            raise WorkloadPlanError(
                f"DP parameters were charged but TrainingJob {self.name} has no spec.privacy"
            )
        try:
            requested = DPSGDParams.from_spec(privacy)
        except ValueError as error:
            raise WorkloadPlanError(f"TrainingJob {self.name} spec.privacy: {error}") from None
        # The trainer must run with exactly the settings the ledger was charged for.
        if requested != self.dp_params:
            raise WorkloadPlanError(
                f"TrainingJob {self.name} spec.privacy differs from the charged DP parameters"
            )
