"""The `pacer` command: one subcommand module per verb, registered here."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module exposes `register(subparsers)`, which adds its subcommand and sets
# `func` (taking the parsed args, returning an exit code) as the parser default.
COMMAND_MODULES = (
    "pacer.cli.config_cmd",
    "pacer.cli.simulate_cmd",
    "pacer.cli.explain_cmd",
    "pacer.cli.ra_cmd",
    "pacer.cli.status_cmd",
    "pacer.cli.resource_cmd",
    "pacer.cli.node_cmd",
    "pacer.cli.history_cmd",
    "pacer.cli.agent_cmd",
    "pacer.cli.faultsim_cmd",
    "pacer.cli.lab_cmd",
)


class UserError(Exception):
    """An error caused by the user's input: printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacer",
        description=(
            "pacer: a high-availability cluster resource manager with "
            "Pacemaker-compatible decisions."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a subcommand that is not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"pacer: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
