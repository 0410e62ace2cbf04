"""`voxgate budget` reads the ledger ConfigMap (or the dataset's budget) from a real API server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from kubernetes import client

from voxgate.cli import dp, main
from voxgate.devcluster import ControlPlane
from voxgate.privacy.accountant import composed_epsilon
from voxgate.privacy.ledger import Budget, new_entry
from voxgate.privacy.params import DPSGDParams
from voxgate.privacy.store import LedgerStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RUN = DPSGDParams(1.1, 0.004, 2000, 1e-5)


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until the lead registers the module in main.COMMAND_GROUPS; harmless afterwards.
    if dp not in main.COMMAND_GROUPS:
        monkeypatch.setattr(main, "COMMAND_GROUPS", (*main.COMMAND_GROUPS, dp))


def test_budget_of_a_dataset_with_a_ledger(
    control_plane: ControlPlane, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api_client = control_plane.api_client()
    store = LedgerStore.from_api_client(api_client)
    limits = Budget(6.0, 1e-5, {"asr-2026": 4.0})
    for index in range(3):
        job = new_entry(
            f"uid-{index}",
            job_namespace="team-a",
            job_name=f"train-{index}",
            grant="asr-2026",
            params=RUN,
            at=T0,
        )
        store.reserve(namespace, "clean", job, limits)
    store.charge(namespace, "clean", "uid-0", T0)
    store.release(namespace, "clean", "uid-2", T0)
    kubeconfig = str(control_plane.kubeconfig)

    argv = ["budget", "clean", "-n", namespace, "--kubeconfig", kubeconfig, "--output", "json"]
    assert main.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["epsilonSpent"] == composed_epsilon([RUN], 1e-5)
    committed = composed_epsilon([RUN, RUN], 1e-5)
    assert document["summary"]["epsilonRemaining"] == pytest.approx(6.0 - committed)
    assert [e["state"] for e in document["entries"]] == ["Charged", "Reserved", "Released"]

    assert main.main(["budget", "clean", "-n", namespace, "--kubeconfig", kubeconfig]) == 0
    table = capsys.readouterr().out
    assert f"SpeechDataset {namespace}/clean" in table
    assert "team-a/train-0" in table and "Charged" in table and "asr-2026" in table


SPEECH_DATASET = {
    "apiVersion": "voxgate.io/v1alpha1",
    "kind": "SpeechDataset",
    "metadata": {"name": "voices"},
    "spec": {
        "tier": "synthetic",
        "storage": {"pvc": {"claimName": "voices-sealed"}},
        "encryption": {
            "keyRef": {"name": "voices-kek"},
            "signingPublicKey": "0kOu50fGahhNdNrwr/3B5Uh3t6q+wEmE08itRNg8y8s=",
        },
        "consent": {"purposes": ["tts-training"]},
        "privacy": {"budget": {"epsilon": 9.5, "delta": 1e-6}},
    },
}


def test_budget_of_a_dataset_without_a_ledger_yet(
    control_plane: ControlPlane,
    crds: list[str],
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api_client = control_plane.api_client()
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "voxgate.io", "v1alpha1", namespace, "speechdatasets", SPEECH_DATASET
    )
    kubeconfig = str(control_plane.kubeconfig)
    argv = ["budget", "voices", "-n", namespace, "--kubeconfig", kubeconfig, "--output", "json"]
    assert main.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert (summary["epsilonTotal"], summary["epsilonRemaining"], summary["delta"]) == (
        9.5,
        9.5,
        1e-6,
    )


def test_unknown_dataset_and_forbidden_reader_are_one_line_errors(
    control_plane: ControlPlane,
    crds: list[str],
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig = str(control_plane.kubeconfig)
    assert main.main(["budget", "nothing", "-n", namespace, "--kubeconfig", kubeconfig]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"no SpeechDataset {namespace}/nothing" in err

    stranger = control_plane.user("stranger", ["researchers"])
    argv = ["budget", "nothing", "-n", namespace, "--kubeconfig", str(stranger.kubeconfig)]
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not allowed to read the ledger" in err
