"""The command line: the same core jobs as the GUI, from a terminal.

Each sub-command lives in its own module with `add_parser(subparsers)` and `run(args) -> int`.
Module level imports stay light (argparse, stdlib): `cnnstudio index --quick` must not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cnnstudio.core.errors import UserError

COMMANDS = [
    "gui", "index", "spec", "demo", "train", "evaluate", "export", "predict", "search", "ensemble",
    "weights", "suggest", "undo_move", "serve",
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnstudio",
        description="Train image classifiers on folders of pictures. Without a command, opens the app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"cnnstudio.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cnnstudio.cli.{name}":
                raise
            continue  # a command not built yet
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"cnnstudio {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
