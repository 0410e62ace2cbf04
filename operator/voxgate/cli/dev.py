"""`voxgate dev up|down|env|demo`: a local control plane for development, and the demo on it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from voxgate.cli.errors import UsageError
from voxgate.devcluster import BinaryNotFound, ControlPlane, ControlPlaneError, demo

DEFAULT_STATE_DIR = Path(".voxgate/dev")


def register(subparsers: Any) -> None:
    dev = subparsers.add_parser("dev", help="run a local control plane (etcd, kube-apiserver)")
    dev.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("VOXGATE_DEV_STATE_DIR", DEFAULT_STATE_DIR)),
        help="where certificates, etcd data, logs and the kubeconfig live (default: %(default)s)",
    )
    actions = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start the control plane and leave it running")
    up.add_argument(
        "--controller-manager",
        action="store_true",
        help="also run kube-controller-manager (garbage collector, job controller)",
    )
    up.set_defaults(handler=_up)
    actions.add_parser("down", help="stop the control plane").set_defaults(handler=_down)
    actions.add_parser("env", help="print `export KUBECONFIG=...`").set_defaults(handler=_env)
    demo = actions.add_parser(
        "demo",
        help="install the Helm chart on a fresh control plane, run the operator as the chart's "
        "ServiceAccount and tell the story of examples/",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the control plane, OPA and the operator running (`dev down` stops them all)",
    )
    demo.set_defaults(handler=_demo)


def _up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    try:
        existing = ControlPlane.attach(state_dir)
    except ControlPlaneError:
        existing = None
    if existing is not None and existing.running():
        print(f"control plane already running at {existing.server}", file=sys.stderr)
        print(f"export KUBECONFIG={existing.kubeconfig}")
        return 0
    if existing is not None:
        existing.stop()
    plane = ControlPlane(
        state_dir, with_controller_manager=args.controller_manager, supervised=False
    )
    try:
        seconds = plane.start()
    except (BinaryNotFound, ControlPlaneError) as error:
        raise UsageError(str(error).splitlines()[0]) from None
    print(f"control plane ready at {plane.server} in {seconds:.1f}s", file=sys.stderr)
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        plane = ControlPlane.attach(args.state_dir.resolve())
    except ControlPlaneError:
        print("no control plane running", file=sys.stderr)
        return 0
    plane.stop()
    print("control plane stopped", file=sys.stderr)
    return 0


def _env(args: argparse.Namespace) -> int:
    try:
        plane = ControlPlane.attach(args.state_dir.resolve())
    except ControlPlaneError as error:
        raise UsageError(str(error)) from None
    if not plane.running():
        raise UsageError(f"the control plane in {plane.state_dir} is not running; `voxgate dev up`")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    try:
        existing = ControlPlane.attach(state_dir)
    except ControlPlaneError:
        existing = None
    if existing is not None:
        existing.stop()
    try:
        return demo.run(state_dir, keep=args.keep)
    except (BinaryNotFound, ControlPlaneError) as error:
        raise UsageError(str(error).splitlines()[0]) from None
