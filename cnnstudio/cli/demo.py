"""`cnnstudio demo`: the whole workflow on the bundled digits, headless, in under a minute."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train the Seed CNN on the bundled handwritten digits and evaluate it")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.train import train_and_report
    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig

    if args.epochs < 1:
        from cnnstudio.core.errors import UserError

        raise UserError("--epochs must be at least 1.")
    project = open_demo_project()
    config = TrainConfig(epochs=args.epochs, batch_size=32, seed=0)
    return train_and_report(project, template("seed"), config, args.json)
