"""`cnnstudio train SOURCE`: train a model on a dataset folder or a project."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import positive_float, positive_int
from cnnstudio.cli.training import config_from_args, train_and_report
from cnnstudio.core.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a folder of images or a project")
    p.add_argument(
        "source", type=Path, help="a dataset folder (one sub-folder per class), a CSV, or a project"
    )
    p.add_argument("--project", type=Path, help="where the project goes (default: the user data folder)")
    design = p.add_mutually_exclusive_group()
    design.add_argument(
        "--template", help="seed, tiny, small-vgg, resnet18, mobilenet-v3-small, efficientnet-b0"
    )
    design.add_argument("--spec", type=Path, help="a model design saved as JSON")
    add_training_arguments(p)
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run of this project")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="MODEL",
        help="fine-tune: start from a run folder, a weights file or a .cnnmodel bundle",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="train a frozen pre-trained network even though its weights are not on this computer",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        metavar="N",
        help="train with N processes on this computer (one per GPU, else CPU processes) through torchrun",
    )
    p.set_defaults(func=run)


def add_training_arguments(p: argparse.ArgumentParser, epochs: int = 10) -> None:
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"default {epochs}; with --resume, the run's new total (to train a finished run further)",
    )
    p.set_defaults(default_epochs=epochs)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate (default 0.001)")
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop"], default="adam")
    p.add_argument("--augment", choices=["none", "default"], default="default")
    p.add_argument("--precision", choices=["auto", "full", "fast"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help='every training setting from a JSON file (as a run\'s config.json "train"); --epochs still applies',
    )


def refuse_random_frozen(spec) -> None:
    """A frozen backbone without its pre-trained weights learns next to nothing (10% on digits):
    refuse rather than spend minutes on it, and say how to get the weights."""
    from cnnstudio.core.weights import random_frozen_backbones

    missing = random_frozen_backbones(spec)
    if missing:
        item = missing[0][1]
        raise UserError(
            f"the pre-trained weights of {item.title} are not on this computer, so its frozen layers "
            "would keep random weights and training would not learn well. Get them first with "
            f"`cnnstudio weights get {item.name}` ({item.megabytes} MB), or add --random-weights to "
            "train anyway."
        )


def run(args) -> int:
    import os

    if "TORCHELASTIC_RUN_ID" in os.environ or "WORLD_SIZE" in os.environ:  # started by torchrun
        from cnnstudio.core.train import distributed

        env = distributed.from_env()
        if env is not None:
            from cnnstudio.cli.train_distributed import run_process

            return run_process(args, env)
    from cnnstudio.core.pipeline import open_or_create_project, resolve_spec

    check_weights = not (args.resume or args.init_from or args.random_weights)
    if check_weights and args.template:  # before a project is made for nothing
        from cnnstudio.core.spec import template

        refuse_random_frozen(template(args.template))
    project = open_or_create_project(args.source, args.project)
    spec = resolve_spec(project, args.template, args.spec)
    if check_weights:
        refuse_random_frozen(spec)
    if args.nproc > 1:
        from cnnstudio.cli.train_distributed import launch

        return launch(args, project, spec, config_from_args(args))
    return train_and_report(
        project,
        spec,
        config_from_args(args),
        args.json,
        resume=args.resume,
        init_from=args.init_from,
        epochs=args.epochs if args.resume else None,
    )
