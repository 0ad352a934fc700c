"""The training job the CLI commands share (`train`, `train --nproc`, `demo`): settings from the
arguments, training with a progress bar, and the report (text, or one JSON object with --json).

Its own module so that `cli/train.py` and `cli/train_distributed.py` both use it and neither
imports the other back.
"""

from __future__ import annotations

import json
from pathlib import Path

from cnnstudio.cli.args import print_json
from cnnstudio.core.errors import UserError


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
    names = {"val_apart": "accepted suggestions validated apart"}  # core.dataset.split.split_suggestions
    counts = ", ".join(f"{names.get(k, k)} {len(v.y)}" for k, v in data.splits.items())
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
    if result.history.error is not None:
        print_step(f"Precision: {result.precision}; device: {result.device}")
        raise UserError(
            f"{result.history.error} The run {result.run_dir.name} keeps its last good checkpoint."
        )
    return report_result(result, as_json, after)


def report_result(result, as_json: bool, after=None) -> int:
    """The end of `cnnstudio train`: the report as text, or one JSON object with --json."""
    from cnnstudio.cli.progress import print_step

    print_step(f"Precision: {result.precision}; device: {result.device}")
    summary = result_summary(result)
    more, lines = after(result) if after is not None else ({}, [])
    if as_json:
        print_json({**summary, **more})
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
