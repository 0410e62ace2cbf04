"""Starting and stopping the component processes.

A supervised process (the test fixtures) gets PR_SET_PDEATHSIG, so the kernel kills it when the
process that started it dies, even by SIGKILL: a crashed or interrupted test run leaves no etcd or
kube-apiserver behind. An unsupervised one (`voxgate dev up`) outlives the command in its own
session and is stopped later by pid, after checking the pid still runs the same binary.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    # The port is released before the component binds it; on loopback, with ports handed out
    # by the kernel in sequence, a collision in that window is rare enough for a dev tool.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    pid: int = 0
    _process: subprocess.Popen[bytes] | None = None

    def start(self, *, supervised: bool, env: dict[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                # preexec_fn is the only way to set PDEATHSIG in the child before exec; it only
                # calls prctl, which is safe after fork even with threads running.
                preexec_fn=_die_with_parent if supervised else None,  # noqa: PLW1509
            )
        self.pid = self._process.pid

    def exit_code(self) -> int | None:
        if self._process is not None:
            return self._process.poll()
        return None if pid_runs(self.pid, self.argv[0]) else -1

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            _terminate(self._process, timeout)
        elif pid_runs(self.pid, self.argv[0]):
            _terminate_pid(self.pid, timeout, self.argv[0])

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def pid_runs(pid: int, binary: str) -> bool:
    """True when `pid` is alive and still runs `binary` (pids are reused)."""
    if pid <= 0:
        return False
    try:
        exe = Path(f"/proc/{pid}/exe").readlink()
    except OSError:
        return False
    return Path(exe).resolve() == Path(binary).resolve()


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _terminate_pid(pid: int, timeout: float, binary: str) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_runs(pid, binary):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def http_ok(url: str) -> bool:
    host_port = url.removeprefix("http://").split("/", 1)[0]
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    conn = http.client.HTTPConnection(host_port, timeout=1)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def http_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    """GET an http:// URL: (status, its JSON answer or None); (0, None) if unreachable."""
    host_port, _, path = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host_port, timeout=timeout)
    try:
        conn.request("GET", "/" + path)
        response = conn.getresponse()
        body = response.read()
    except OSError:
        return 0, None
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, None


def https_ok(url: str, context: ssl.SSLContext) -> bool:
    host_port, path = url.removeprefix("https://").split("/", 1)
    conn = http.client.HTTPSConnection(host_port, timeout=1, context=context)
    try:
        conn.request("GET", "/" + path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
