"""Entry point of the `voxgate` command.

Each command group lives in its own module with a `register(subparsers)` function that adds its
parser and sets `handler` to a function taking the parsed arguments and returning the exit code.
Errors a user can fix are raised as `UsageError` and printed as one line; exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voxgate import __version__
from voxgate.cli import audit, check, dev, dp, keys, operator, seal, unseal
from voxgate.cli.errors import UsageError

COMMAND_GROUPS = (check, dev, operator, seal, unseal, keys, dp, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxgate",
        description="Admit speech-model training only under policy, on sealed data, within budget.",
    )
    parser.add_argument("--version", action="version", version=f"voxgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except UsageError as error:
        print(f"voxgate: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voxgate: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
