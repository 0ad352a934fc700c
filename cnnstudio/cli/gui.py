"""`cnnstudio gui [PROJECT]`: open the app, on a project (or a folder of images) when one is given."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the app (on PROJECT: a project folder or a folder of images)")
    p.add_argument("project", nargs="?", help="a project folder, a folder of images, or a CSV of path,label")
    p.add_argument("--demo", action="store_true", help="open the demo project (handwritten digits)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from cnnstudio.core.errors import UserError

    if args.project is not None and not Path(args.project).expanduser().exists():
        raise UserError(f"{args.project} does not exist.")
    from cnnstudio.gui.app import run as run_app

    return run_app(project=args.project, demo=args.demo)
