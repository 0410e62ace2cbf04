from __future__ import annotations

import stat
from pathlib import Path

import pytest

from voxgate.devcluster.binaries import BinaryNotFound, env_var_for, resolve_binary


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_env_var_names_follow_envtest() -> None:
    assert env_var_for("kube-apiserver") == "TEST_ASSET_KUBE_APISERVER"
    assert env_var_for("etcd") == "TEST_ASSET_ETCD"


def test_explicit_variable_wins_over_kubebuilder_assets(tmp_path: Path) -> None:
    explicit = _executable(tmp_path / "custom" / "etcd")
    _executable(tmp_path / "assets" / "etcd")
    environ = {"TEST_ASSET_ETCD": str(explicit), "KUBEBUILDER_ASSETS": str(tmp_path / "assets")}
    assert resolve_binary("etcd", environ) == explicit


def test_kubebuilder_assets_used_when_no_explicit_variable(tmp_path: Path) -> None:
    assets = _executable(tmp_path / "assets" / "kube-apiserver")
    environ = {"KUBEBUILDER_ASSETS": str(tmp_path / "assets")}
    assert resolve_binary("kube-apiserver", environ) == assets


def test_non_executable_file_is_skipped(tmp_path: Path) -> None:
    plain = tmp_path / "assets" / "no-such-tool-xyz"
    plain.parent.mkdir()
    plain.write_text("not executable")
    with pytest.raises(BinaryNotFound, match="TEST_ASSET_NO_SUCH_TOOL_XYZ"):
        resolve_binary("no-such-tool-xyz", {"KUBEBUILDER_ASSETS": str(plain.parent)})


def test_missing_binary_names_every_place_searched(tmp_path: Path) -> None:
    with pytest.raises(BinaryNotFound) as error:
        resolve_binary("no-such-tool-xyz", {"KUBEBUILDER_ASSETS": str(tmp_path)})
    message = str(error.value)
    assert str(tmp_path / "no-such-tool-xyz") in message
    assert "make tools" in message
    assert "\n" not in message
