"""`helm lint --strict` is clean with the default values and with every ci/*.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.chart.conftest import Helm

CHART = Path(__file__).resolve().parents[3] / "charts" / "voxgate"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))

pytestmark = pytest.mark.integration


def test_there_are_ci_values_files_to_lint() -> None:
    names = {p.name for p in CI_VALUES}
    assert {"minimal-values.yaml", "cert-manager-values.yaml", "monitoring-values.yaml",
            "ha-off-values.yaml"} <= names  # fmt: skip


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.stem if p else "default")
def test_lint_strict_is_clean(helm: Helm, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", helm.kube_version]
    if values is not None:
        args += ["--values", str(values)]
    out = helm.run(*args).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


def test_lint_refuses_values_the_schema_does_not_know(helm: Helm) -> None:
    result = helm.run(
        "lint", "--strict", str(CHART), "--kube-version", helm.kube_version,
        "--set", "replica=3", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "replica" in result.stdout + result.stderr


def test_lint_refuses_an_image_by_tag(helm: Helm) -> None:
    result = helm.run(
        "lint", "--strict", str(CHART), "--kube-version", helm.kube_version,
        "--set", "image.digest=latest", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "digest" in result.stdout + result.stderr
