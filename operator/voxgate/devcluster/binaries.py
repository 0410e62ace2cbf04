"""Where the control-plane binaries come from.

Order, first match wins: one environment variable per binary (`TEST_ASSET_KUBE_APISERVER`,
`TEST_ASSET_ETCD`, `TEST_ASSET_KUBECTL`, ... as controller-runtime's envtest names them), then the
directory in `KUBEBUILDER_ASSETS` (what setup-envtest provides), then the repository's bin/ that
`make tools` fills.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
REPO_BIN = REPO_ROOT / "bin"


class BinaryNotFound(FileNotFoundError):
    """A required binary is in none of the places searched."""


def env_var_for(name: str) -> str:
    return "TEST_ASSET_" + name.upper().replace("-", "_")


def candidates(name: str, environ: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if environ is None else environ
    found: list[Path] = []
    explicit = env.get(env_var_for(name))
    if explicit:
        found.append(Path(explicit))
    assets = env.get("KUBEBUILDER_ASSETS")
    if assets:
        found.append(Path(assets) / name)
    found.append(REPO_BIN / name)
    return found


def resolve_binary(name: str, environ: Mapping[str, str] | None = None) -> Path:
    searched = candidates(name, environ)
    for path in searched:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    places = ", ".join(str(p) for p in searched)
    raise BinaryNotFound(
        f"{name} not found (looked in {places}); run `make tools` or set {env_var_for(name)}"
    )
