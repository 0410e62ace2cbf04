"""The API server itself accepts every rendering of the chart: `kubectl apply --server-side
--dry-run=server` runs defaulting, validation (strict field validation: unknown fields are
errors) and admission, including CEL compilation of the ValidatingAdmissionPolicies, without
storing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from tests.integration.chart.conftest import Helm

    from voxgate.devcluster import ControlPlane

pytestmark = pytest.mark.integration

CHART = Path(__file__).resolve().parents[3] / "charts" / "voxgate"
CASES: list[Path | None] = [None, *sorted((CHART / "ci").glob("*.yaml"))]
IDS = ["default" if p is None else p.stem for p in CASES]


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_the_api_server_accepts_the_rendered_chart(
    control_plane: ControlPlane,
    crds: list[str],
    thirdparty_crds: None,
    helm: Helm,
    namespace: str,
    values: Path | None,
) -> None:
    # Pod Security admission warns about pod templates that break the profile a namespace asks
    # for; the operator's pods must meet "restricted".
    control_plane.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/warn=restricted",
        "pod-security.kubernetes.io/enforce=restricted",
    )  # fmt: skip
    text = helm.template(values, namespace=namespace)
    count = len([d for d in yaml.safe_load_all(text) if d])
    result = control_plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=helm", "-f", "-",
        input=text, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "PodSecurity" not in result.stderr, result.stderr
    applied = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(applied) == count, result.stdout
    assert all(line.endswith("serverside-applied (server dry run)") for line in applied), applied


def test_pod_security_admission_would_warn_about_a_weakened_operator_pod(
    control_plane: ControlPlane, crds: list[str], helm: Helm, namespace: str
) -> None:
    """Control for the check above: the warning does appear when the profile is broken."""
    control_plane.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/warn=restricted"
    )
    docs = [d for d in yaml.safe_load_all(helm.template(namespace=namespace)) if d]
    statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    result = control_plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-",
        input=yaml.safe_dump(statefulset), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "would violate PodSecurity" in result.stderr
    assert "allowPrivilegeEscalation" in result.stderr


def test_the_dry_run_catches_an_invalid_object(
    control_plane: ControlPlane, crds: list[str], helm: Helm, namespace: str
) -> None:
    """Control: the same path refuses what the API server would refuse."""
    docs = [d for d in yaml.safe_load_all(helm.template(namespace=namespace)) if d]
    policy = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicy")
    policy["spec"]["validations"][0]["expression"] = "object.metadata.labels.exists(l, "
    result = control_plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-",
        input=yaml.safe_dump(policy), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "compilation failed" in result.stderr or "Syntax error" in result.stderr, result.stderr
