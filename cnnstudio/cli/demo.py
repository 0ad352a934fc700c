"""`cnnstudio demo`: the whole workflow on the bundled digits, headless, in about a minute: train the
Seed CNN, evaluate it on the test pictures, export it as a verified .cnnmodel bundle (in the demo
project's exports/ folder), load that file back and predict the test pictures with it."""

from __future__ import annotations

import argparse
import shlex


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole workflow on the bundled handwritten digits: train, evaluate, export, predict",
    )
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.training import train_and_report
    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig

    if args.epochs < 1:
        from cnnstudio.core.errors import UserError

        raise UserError("--epochs must be at least 1.")
    project = open_demo_project()
    config = TrainConfig(epochs=args.epochs, batch_size=32, seed=0)
    return train_and_report(
        project, template("seed"), config, args.json, after=lambda result: export_and_predict(project, result)
    )


def export_and_predict(project, result) -> tuple[dict, list[str]]:
    """Export the run as a verified bundle, then predict the test pictures with that file."""
    from cnnstudio.cli.progress import print_step
    from cnnstudio.core.export import Predictor, export_run
    from cnnstudio.core.models import load_model

    print_step("Exporting the run as a .cnnmodel bundle and checking it...")
    target = project.folder / "exports" / f"digits-{result.run_dir.name}.cnnmodel"
    exported = export_run(project, "bundle", target, run=result.run_dir.name)
    test = result.data.splits["test"]
    print_step(f"Predicting the {len(test.paths):,} test pictures with {exported.path.name}...")
    predicted = Predictor(load_model(exported.path)).predict_paths(list(test.paths))
    truth = {path: result.data.class_names[label] for path, label in zip(test.paths, test.y, strict=True)}
    right = sum(p.label == truth[p.path] for p in predicted.predictions)
    total = len(predicted.predictions)
    lines = [
        "",
        f"Exported: {exported.path}",
        f"  {exported.message}",
        f"Predicted the {total:,} test pictures with that file: {right:,} right ({right / max(total, 1):.1%}).",
        f"Try it yourself: cnnstudio predict {shlex.quote(str(exported.path))} PICTURES_OR_FOLDER",
    ]
    more = {
        "export": exported.to_dict(),
        "predict": {"model": str(exported.path), "pictures": total, "right": right},
    }
    return more, lines
