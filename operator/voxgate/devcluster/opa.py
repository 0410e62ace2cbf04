"""A local OPA server with a policy bundle loaded, for tests, the demo and development.

The policy directory is built into a bundle whose revision is its content hash
(voxgate.policy.revision), so every decision OPA returns carries the revision it came from.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from voxgate.devcluster.binaries import resolve_binary
from voxgate.devcluster.controlplane import ControlPlaneError
from voxgate.devcluster.processes import Component, free_port, http_ok
from voxgate.policy.revision import BUNDLE_EXCLUDES, policy_revision

READY_TIMEOUT_SECONDS = 30.0


@dataclass
class OpaServer:
    policy_dir: Path
    state_dir: Path
    supervised: bool = True
    url: str = ""
    revision: str = ""
    components: list[Component] = field(default_factory=list)

    def start(self) -> float:
        begin = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        opa = str(resolve_binary("opa"))
        bundle = self.state_dir / "bundle.tar.gz"
        self.revision = policy_revision(self.policy_dir)
        ignores = [f"--ignore={pattern}" for pattern in BUNDLE_EXCLUDES]
        built = subprocess.run(
            [opa, "build", "--bundle", str(self.policy_dir), *ignores,
             f"--revision={self.revision}", f"--output={bundle}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if built.returncode != 0:
            raise ControlPlaneError(f"opa build failed: {(built.stderr or built.stdout).strip()}")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        component = Component(
            "opa",
            [opa, "run", "--server", f"--addr=127.0.0.1:{port}", "--log-level=error",
             "--disable-telemetry", "--bundle", str(bundle)],
            self.state_dir / "opa.log",
        )  # fmt: skip
        component.start(supervised=self.supervised)
        self.components.append(component)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not http_ok(f"{self.url}/health"):
            if component.exit_code() is not None or time.monotonic() > deadline:
                self.stop()
                raise ControlPlaneError(f"opa did not start:\n{component.log_tail()}")
            time.sleep(0.05)
        return time.monotonic() - begin

    def stop(self) -> None:
        for component in self.components:
            component.stop()
        self.components.clear()

    def logs(self, lines: int = 40) -> dict[str, str]:
        return {c.name: c.log_tail(lines) for c in self.components}
