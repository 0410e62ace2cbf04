"""`voxgate dp epsilon|noise` (what DP-SGD costs) and `voxgate budget` (what a dataset has left)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from voxgate.cli.budget_view import budget_document, render_budget
from voxgate.cli.errors import UsageError
from voxgate.privacy.params import ACCOUNTANTS, DPSGDParams, InvalidDPParams

# Which flag set which field, so an error names what the user typed.
_FLAGS = {
    "noise_multiplier": "--noise",
    "sample_rate": "--sample-rate",
    "steps": "--steps",
    "delta": "--delta",
    "target_epsilon": "--target-epsilon",
    "accountant": "--accountant",
}


def _whole_number(text: str) -> int:
    """An integer, also written as 1e4; anything else is an argparse error (exit 2, one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)


def _add_mechanism_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample-rate", type=float, required=True, help="Poisson sampling rate q = batch / N"
    )
    parser.add_argument("--steps", type=_whole_number, required=True, help="optimizer steps")
    parser.add_argument("--delta", type=float, required=True, help="the delta of (epsilon, delta)")
    parser.add_argument("--accountant", choices=ACCOUNTANTS, default="rdp")
    parser.add_argument("--output", choices=("table", "json"), default="table")


def register(subparsers: Any) -> None:
    dp = subparsers.add_parser("dp", help="differential-privacy cost of DP-SGD parameters")
    actions = dp.add_subparsers(dest="dp_command", metavar="ACTION", required=True)

    eps = actions.add_parser("epsilon", help="epsilon spent by a DP-SGD run")
    eps.add_argument("--noise", type=float, required=True, help="noise multiplier (sigma / C)")
    _add_mechanism_arguments(eps)
    eps.set_defaults(handler=epsilon_command)

    noise = actions.add_parser("noise", help="smallest noise multiplier for a target epsilon")
    noise.add_argument("--target-epsilon", type=float, required=True)
    _add_mechanism_arguments(noise)
    noise.set_defaults(handler=noise_command)

    budget = subparsers.add_parser("budget", help="privacy budget and ledger of a SpeechDataset")
    budget.add_argument("dataset", metavar="DATASET", help="SpeechDataset name")
    budget.add_argument("-n", "--namespace", required=True, help="the dataset's namespace")
    budget.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    budget.add_argument("--output", choices=("table", "json"), default="table")
    budget.set_defaults(handler=budget_command)


def _usage_error(error: InvalidDPParams) -> UsageError:
    flag = _FLAGS.get(error.field)
    return UsageError(f"{flag}: {error}" if flag else str(error))


def _print_rows(rows: list[tuple[str, object]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def epsilon_command(args: argparse.Namespace) -> int:
    # Imported here so `voxgate --help` does not load numpy and scipy.
    from voxgate.privacy.accountant import epsilon  # noqa: PLC0415

    try:
        params = DPSGDParams(
            noise_multiplier=args.noise,
            sample_rate=args.sample_rate,
            steps=args.steps,
            delta=args.delta,
            accountant=args.accountant,
        )
    except InvalidDPParams as error:
        raise _usage_error(error) from None
    value = epsilon(params)
    if args.output == "json":
        document = {**params.to_spec(), "epsilon": value}
        document.pop("maxGradNorm")  # does not change epsilon; leaving it out avoids implying so
        print(json.dumps(document))
        return 0
    _print_rows(
        [
            ("epsilon", f"{value:.6g}"),
            ("delta", f"{params.delta:g}"),
            ("accountant", params.accountant),
            ("noise multiplier", f"{params.noise_multiplier:g}"),
            ("sample rate", f"{params.sample_rate:g}"),
            ("steps", params.steps),
        ]
    )
    return 0


def noise_command(args: argparse.Namespace) -> int:
    from voxgate.privacy.accountant import epsilon, noise_for_epsilon  # noqa: PLC0415

    try:
        noise = noise_for_epsilon(
            args.target_epsilon, args.sample_rate, args.steps, args.delta, args.accountant
        )
    except InvalidDPParams as error:
        raise _usage_error(error) from None
    reached = epsilon(
        DPSGDParams(noise, args.sample_rate, args.steps, args.delta, accountant=args.accountant)
    )
    if args.output == "json":
        print(
            json.dumps(
                {
                    "noiseMultiplier": noise,
                    "targetEpsilon": args.target_epsilon,
                    "epsilon": reached,
                    "sampleRate": args.sample_rate,
                    "steps": args.steps,
                    "delta": args.delta,
                    "accountant": args.accountant,
                }
            )
        )
        return 0
    _print_rows(
        [
            ("noise multiplier", f"{noise:.6g}"),
            ("epsilon", f"{reached:.7g} (target {args.target_epsilon:g})"),
            ("delta", f"{args.delta:g}"),
            ("accountant", args.accountant),
            ("sample rate", f"{args.sample_rate:g}"),
            ("steps", args.steps),
        ]
    )
    return 0


def budget_command(args: argparse.Namespace) -> int:
    from voxgate.cli.budget_source import load_ledger  # noqa: PLC0415

    ledger = load_ledger(args.namespace, args.dataset, args.kubeconfig)
    if args.output == "json":
        print(json.dumps(budget_document(ledger), indent=2))
    else:
        print(render_budget(ledger), end="")
    return 0
