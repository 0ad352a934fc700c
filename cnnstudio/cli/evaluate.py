"""`cnnstudio evaluate PROJECT`: metrics and confusion matrix of a run on a split or another folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure a trained run on the validation or test images")
    p.add_argument("project", type=Path, help="a project folder")
    p.add_argument("--run", help="the run's id (default: the newest run)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--split", choices=["val", "test"], default="test")
    where.add_argument("--folder", type=Path, help="another folder with one sub-folder per class")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.train import report_summary
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.pipeline import evaluate_run, find_run
    from cnnstudio.core.project import Project

    if args.folder is not None and not args.folder.is_dir():
        raise UserError(f"{args.folder} is not a folder.")
    project = Project.open(args.project)
    run_dir = find_run(project, args.run)
    report = evaluate_run(project, run_dir, split=args.split, folder=args.folder)
    if args.json:
        print(json.dumps({"run": run_dir.name, "split": report.split, **report_summary(report)}, indent=2))
    else:
        print(f"Run {run_dir.name} on {report.split} ({len(report.y_true)} images)")
        print(report.format_table())
        print()
        print(report.format_confusion())
    return 0
