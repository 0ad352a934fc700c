"""`cnnstudio train SOURCE`: train a model on a dataset folder or a project."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
        type=_positive_int,
        default=1,
        metavar="N",
        help="train with N processes on this computer (one per GPU, else CPU processes) through torchrun",
    )
    p.set_defaults(func=run)


def add_training_arguments(p: argparse.ArgumentParser, epochs: int = 10) -> None:
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help=f"default {epochs}; with --resume, the run's new total (to train a finished run further)",
    )
    p.set_defaults(default_epochs=epochs)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default 0.001)")
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop"], default="adam")
    p.add_argument("--augment", choices=["none", "default"], default="default")
    p.add_argument("--precision", choices=["auto", "full", "fast"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="every training setting from a JSON file (as a run's config.json \"train\"); --epochs still applies",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


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


def config_from_args(args):
    from cnnstudio.core.train import AugmentConfig, TrainConfig

    if getattr(args, "config", None) is not None:
        try:
            config = TrainConfig.from_dict(json.loads(Path(args.config).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise UserError(f"Cannot read the training settings in {args.config}: {exc}") from None
        if args.epochs:
            config.epochs = args.epochs
        return config
    config = TrainConfig(
        optimizer=args.optimizer,
        batch_size=args.batch_size,
        epochs=args.epochs or args.default_epochs,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        augment=AugmentConfig.default() if args.augment == "default" else AugmentConfig.none(),
    )
    if args.lr is not None:
        config.lr = args.lr
    return config


def run(args) -> int:
    import os

    if "TORCHELASTIC_RUN_ID" in os.environ or "WORLD_SIZE" in os.environ:  # started by torchrun
        from cnnstudio.core.train import distributed

        env = distributed.from_env()
        if env is not None:
            from cnnstudio.cli.train_distributed import run_process

            return run_process(args, env)
    if args.nproc > 1:
        from cnnstudio.cli.train_distributed import launch

        return launch(args)
    from cnnstudio.core.pipeline import open_or_create_project, resolve_spec

    check_weights = not (args.resume or args.init_from or args.random_weights)
    if check_weights and args.template:  # before a project is made for nothing
        from cnnstudio.core.spec import template

        refuse_random_frozen(template(args.template))
    project = open_or_create_project(args.source, args.project)
    spec = resolve_spec(project, args.template, args.spec)
    if check_weights:
        refuse_random_frozen(spec)
    return train_and_report(
        project,
        spec,
        config_from_args(args),
        args.json,
        resume=args.resume,
        init_from=args.init_from,
        epochs=args.epochs if args.resume else None,
    )


def train_and_report(
    project,
    spec,
    config,
    as_json: bool,
    resume: str | None = None,
    init_from=None,
    epochs: int | None = None,
    after=None,
    data=None,
) -> int:
    """`after(result) -> (dict, lines)`: more steps once the run is evaluated (the demo exports and
    predicts); the dict joins the JSON summary, the lines follow the text report."""
    from cnnstudio.cli.progress import TerminalProgress, count_progress, print_step
    from cnnstudio.core.pipeline import prepare_data, train_project
    from cnnstudio.core.runs import find_run

    print_step(f"Project: {project.folder}")
    print_step("Checking and decoding the images...")
    if data is None:
        data = prepare_data(project, spec, progress=count_progress("images"))
    for warning in data.warnings:
        print_step(f"Note: {warning}")
    counts = ", ".join(f"{k} {len(v.y)}" for k, v in data.splits.items())
    print_step(f"{len(data.class_names)} classes; images: {counts}")
    resume_dir = find_run(project, resume) if resume else None
    result = train_project(
        project,
        spec,
        config,
        callbacks=[TerminalProgress(config.epochs)],
        data=data,
        resume=resume_dir,
        init_weights=init_from,
        epochs=epochs,
    )
    print_step(f"Precision: {result.precision}; device: {result.device}")
    if result.history.error is not None:
        raise UserError(
            f"{result.history.error} The run {result.run_dir.name} keeps its last good checkpoint."
        )
    summary = result_summary(result)
    more, lines = after(result) if after is not None else ({}, [])
    if as_json:
        print(json.dumps({**summary, **more}, indent=2))
    else:
        print_report_text(result)
        for line in lines:
            print(line)
    return 0


def result_summary(result) -> dict:
    import statistics

    epochs = list(result.history.epochs)
    speeds = [e["images_per_s"] for e in epochs[1:] if e.get("images_per_s")] or [
        e["images_per_s"] for e in epochs if e.get("images_per_s")
    ]
    out = {
        "run": result.run_dir.name,
        "run_dir": str(result.run_dir),
        "precision": result.precision,
        "device": result.device,
        "classes": result.data.class_names,
        "train_images_per_s": statistics.median(speeds) if speeds else None,
        "epochs": epochs,
        "stopped_early": getattr(result.history, "stopped_early", False),
    }
    for split in ("val", "test"):
        report = result.reports.get(split)
        out[split] = report_summary(report) if report is not None else None
    return out


def report_summary(report) -> dict:
    return {
        "accuracy": report.accuracy,
        "macro_f1": report.macro["f1"],
        "weighted_f1": report.weighted["f1"],
        "per_class": report.per_class,
        "confusion_matrix": [[int(v) for v in row] for row in report.confusion],
        "images": len(report.y_true),
    }


def print_report_text(result) -> None:
    print(f"\nRun {result.run_dir.name} saved in {result.run_dir}")
    for split in ("val", "test"):
        report = result.reports.get(split)
        if report is None:
            continue
        print(f"\n== {'Validation' if split == 'val' else 'Test'} images ({len(report.y_true)}) ==")
        print(report.format_table())
        print()
        print(report.format_confusion())
