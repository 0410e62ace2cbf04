"""`voxgate operator run`: the kopf operators with leader election (voxgate.handlers.leading).

`kopf run -m voxgate.handlers` also works: one kopf operator, everything in it, no election.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from voxgate import heap
from voxgate.cli.errors import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("operator", help="run the voxgate operator")
    actions = parser.add_subparsers(dest="operator_command", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="reconcile SpeechDatasets, DataGrants and TrainingJobs")
    run.add_argument("--metrics-port", type=int, default=9090, help="Prometheus metrics (0: off)")
    run.add_argument(
        "--liveness", default="http://0.0.0.0:8080/healthz", help="kopf liveness endpoint URL"
    )
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported here: kopf and the handlers are only needed by this command.
    from prometheus_client import start_http_server  # noqa: PLC0415

    from voxgate.handlers import leading  # noqa: PLC0415 - imports kopf, which no other command needs
    from voxgate.settings import OperatorSettings, SettingsError  # noqa: PLC0415

    try:
        OperatorSettings.from_env(os.environ).with_broker_ca()
    except SettingsError as error:
        raise UsageError(str(error)) from None
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    heap.limit_arenas(os.environ)  # first: before any thread starts
    heap.start_trimming()
    heap.freeze_startup_objects()  # last before the loop: everything imported is in by now
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="0.0.0.0")  # noqa: S104 - scraped in-cluster
    return asyncio.run(leading.run(args.liveness or None))
