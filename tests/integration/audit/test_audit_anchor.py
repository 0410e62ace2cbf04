"""Anchoring against a real kube-apiserver: round trip, compare-and-swap, never backwards, one
anchor per replica, and `voxgate audit verify --anchor-replica/--anchor-configmap` catching a
truncated trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from voxgate.audit import (
    DEFAULT_ANCHOR_NAME,
    AnchorConflict,
    Anchorer,
    AnchorError,
    AnchorMismatch,
    AnchorRegression,
    AnchorStore,
    AuditRecord,
    AuditTrail,
    BrokenTrail,
    ChainHead,
    FsyncPolicy,
    Subject,
    anchor_name,
)
from voxgate.cli import audit, main
from voxgate.devcluster import ControlPlane

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
JOB = Subject("TrainingJob", "team-a", "asr-small", "uid-1")


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until the lead registers the module in main.COMMAND_GROUPS; harmless afterwards.
    if audit not in main.COMMAND_GROUPS:
        monkeypatch.setattr(main, "COMMAND_GROUPS", (*main.COMMAND_GROUPS, audit))


@pytest.fixture
def store(control_plane: ControlPlane, namespace: str) -> AnchorStore:
    return AnchorStore(control_plane.api_client(), namespace)


def write_records(path: Path, count: int) -> list[AuditRecord]:
    with AuditTrail(path, fsync=FsyncPolicy.NEVER) as trail:
        return [
            trail.record("ledger.reserved", "operator", JOB, {"epsilon": 0.1 * n})
            for n in range(count)
        ]


def head(seq: int) -> ChainHead:
    return ChainHead(seq, f"sha256:{seq:064x}")


def stored_head(store: AnchorStore) -> ChainHead:
    stored = store.read()
    assert stored is not None
    return stored.head


def test_anchor_round_trip(store: AnchorStore, control_plane: ControlPlane, namespace: str) -> None:
    assert store.read() is None
    stored = store.anchor(head(3), T0)
    assert (stored.seq, stored.digest, stored.time) == (
        3,
        head(3).digest,
        "2026-05-01T12:00:00.000000Z",
    )
    assert store.read() == stored

    configmap = client.CoreV1Api(control_plane.api_client()).read_namespaced_config_map(
        DEFAULT_ANCHOR_NAME, namespace
    )
    assert configmap.data == {"seq": "3", "digest": head(3).digest, "time": stored.time}
    assert configmap.metadata is not None and configmap.metadata.labels is not None
    assert configmap.metadata.labels["app.kubernetes.io/managed-by"] == "voxgate"

    moved = store.anchor(head(7), T0 + timedelta(minutes=1))
    assert moved.head == head(7) and moved.resource_version != stored.resource_version
    # Anchoring the same head again changes nothing (no write, same resourceVersion).
    assert store.anchor(head(7), T0 + timedelta(minutes=2)) == moved


def test_a_stale_compare_and_swap_loses(
    control_plane: ControlPlane, namespace: str, store: AnchorStore
) -> None:
    other = AnchorStore(control_plane.api_client(), namespace)
    store.anchor(head(1), T0)
    stale = store.read()
    other.anchor(head(5), T0)  # another writer moves the anchor after our read
    with pytest.raises(AnchorConflict, match="compare-and-swap"):
        store.swap(stale, head(6), T0)
    assert stored_head(store) == head(5)
    # anchor() re-reads and retries, and the re-read state is checked again.
    assert store.anchor(head(6), T0).head == head(6)


def test_two_creators_race_and_one_loses(
    control_plane: ControlPlane, namespace: str, store: AnchorStore
) -> None:
    other = AnchorStore(control_plane.api_client(), namespace)
    other.swap(None, head(2), T0)
    with pytest.raises(AnchorConflict):
        store.swap(None, head(4), T0)  # we thought there was none: the create loses
    assert store.anchor(head(4), T0).head == head(4)


def test_the_anchor_never_moves_backwards(store: AnchorStore) -> None:
    store.anchor(head(10), T0)
    with pytest.raises(AnchorRegression, match="refusing to move it back to seq 9"):
        store.anchor(head(9), T0)
    with pytest.raises(AnchorMismatch, match="another digest"):
        store.anchor(ChainHead(10, "sha256:" + "e" * 64), T0)
    with pytest.raises(AnchorError, match="nothing to anchor"):
        store.anchor(ChainHead(0, "sha256:" + "0" * 64), T0)
    assert stored_head(store) == head(10)


def test_a_foreign_configmap_is_not_taken_over(
    control_plane: ControlPlane, namespace: str, store: AnchorStore
) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=DEFAULT_ANCHOR_NAME),
            data={"seq": "1", "digest": head(1).digest},
        ),
    )
    with pytest.raises(AnchorError, match="not managed by voxgate"):
        store.anchor(head(2), T0)


def test_anchorer_anchors_when_due_and_refuses_a_trail_behind_its_anchor(
    tmp_path: Path, store: AnchorStore
) -> None:
    now = [T0]
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path, fsync=FsyncPolicy.NEVER)
    anchorer = Anchorer(trail, store, timedelta(minutes=1), clock=lambda: now[0])
    assert anchorer.tick() is None  # nothing to anchor yet
    trail.record("decision.allowed", "operator", JOB, {"decisionId": "d-1"})
    first = anchorer.tick()
    assert first is not None and first.head == trail.head
    trail.record("ledger.reserved", "operator", JOB, {"epsilon": 1.0})
    now[0] += timedelta(seconds=30)
    assert anchorer.tick() is None  # not due yet
    now[0] += timedelta(seconds=31)
    second = anchorer.tick()
    assert second is not None and second.seq == 2
    trail.close()

    # The trail loses its last record (a restore from an old backup, say) ...
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])
    # ... the operator refuses to open it against the anchor ...
    with pytest.raises(BrokenTrail, match="seq 2 was anchored"):
        AuditTrail(path, anchor=stored_head(store))
    # ... and an anchorer on a trail behind the anchor refuses to go on.
    with AuditTrail(path) as behind, pytest.raises(AnchorRegression, match="records were lost"):
        Anchorer(behind, store, clock=lambda: now[0]).tick()


def test_verify_with_the_anchor_detects_truncation(
    tmp_path: Path,
    control_plane: ControlPlane,
    namespace: str,
    store: AnchorStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "audit.jsonl"
    records = write_records(path, 8)
    store.anchor(records[-1].head, T0)
    argv = [
        "audit",
        "verify",
        str(path),
        "--anchor-configmap",
        f"{namespace}/{DEFAULT_ANCHOR_NAME}",
        "--kubeconfig",
        str(control_plane.kubeconfig),
    ]
    assert main.main(argv) == 0
    out = capsys.readouterr().out
    assert "intact, 8 records" in out and "seq 8" in out and "is in the file" in out

    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:5]))
    assert main.main(["audit", "verify", str(path)]) == 0  # alone, a shorter chain looks fine
    capsys.readouterr()
    assert main.main(argv) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "BROKEN at line 6: the file ends at seq 5 but seq 8 was anchored" in out


def test_verify_with_a_missing_or_forbidden_anchor_is_a_usage_error(
    tmp_path: Path,
    control_plane: ControlPlane,
    namespace: str,
    store: AnchorStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "audit.jsonl"
    records = write_records(path, 2)
    kubeconfig = str(control_plane.kubeconfig)
    anchor_ref = f"{namespace}/{DEFAULT_ANCHOR_NAME}"
    argv = ["audit", "verify", str(path), "--anchor-configmap", anchor_ref]
    assert main.main([*argv, "--kubeconfig", kubeconfig]) == 2
    assert "no anchor ConfigMap" in capsys.readouterr().err

    store.anchor(records[-1].head, T0)
    nobody = control_plane.user("nobody", ())
    assert main.main([*argv, "--kubeconfig", str(nobody.kubeconfig)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 403" in err


def test_each_replica_anchors_its_own_trail(control_plane: ControlPlane, namespace: str) -> None:
    api = control_plane.api_client()
    first = AnchorStore.for_replica(api, namespace, "voxgate-0")
    second = AnchorStore.for_replica(api, namespace, "voxgate-1")
    assert first.name == "voxgate-audit-anchor-voxgate-0"
    # Two trails of different lengths: neither anchor moves the other back or aside.
    first.anchor(head(40), T0)
    second.anchor(head(3), T0)
    first.anchor(head(41), T0)
    assert stored_head(first) == head(41) and stored_head(second) == head(3)
    configmap = client.CoreV1Api(api).read_namespaced_config_map(second.name, namespace)
    assert configmap.data is not None and configmap.data["replica"] == "voxgate-1"

    # One replica's anchor copied over another's is refused, not taken for its own.
    core = client.CoreV1Api(api)
    copied = core.read_namespaced_config_map(first.name, namespace)
    assert copied.data is not None
    copied.data["seq"], copied.data["digest"] = "3", head(3).digest
    copied.data["replica"] = "voxgate-1"
    core.replace_namespaced_config_map(first.name, namespace, copied)
    with pytest.raises(AnchorError, match="anchors the trail of replica 'voxgate-1'"):
        first.read()


def test_verify_against_the_replicas_anchor(
    tmp_path: Path,
    control_plane: ControlPlane,
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = control_plane.api_client()
    trails = {}
    for replica, count in (("voxgate-0", 6), ("voxgate-1", 4)):
        path = tmp_path / replica / "audit.jsonl"
        path.parent.mkdir()
        records = write_records(path, count)
        AnchorStore.for_replica(api, namespace, replica).anchor(records[-1].head, T0)
        trails[replica] = path
    kubeconfig = ["--kubeconfig", str(control_plane.kubeconfig)]

    def verify(replica: str, path: Path) -> int:
        return main.main(
            [
                "audit",
                "verify",
                str(path),
                "--anchor-replica",
                f"{namespace}/{replica}",
                *kubeconfig,
            ]
        )

    assert verify("voxgate-1", trails["voxgate-1"]) == 0
    out = capsys.readouterr().out
    assert f"anchor ConfigMap {namespace}/{anchor_name('voxgate-1')}: seq 4" in out

    # Another replica's trail does not pass for this one's.
    assert verify("voxgate-1", trails["voxgate-0"]) == 1
    assert "differs from the anchored record" in capsys.readouterr().out

    # Records cut off the end of replica 0's trail are caught by replica 0's anchor.
    path = trails["voxgate-0"]
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:5]))
    assert verify("voxgate-0", path) == 1
    assert "the file ends at seq 5 but seq 6 was anchored" in capsys.readouterr().out

    # A replica that never anchored: a usage error naming its ConfigMap.
    assert verify("voxgate-2", path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"no anchor ConfigMap {namespace}/voxgate-audit-anchor-voxgate-2" in err
