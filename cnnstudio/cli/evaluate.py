"""`cnnstudio evaluate PROJECT`: metrics and confusion matrix of a run on a split or another folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import open_project, print_json, require_folder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure a trained run on the validation or test images")
    p.add_argument("project", type=Path, help="a project folder")
    p.add_argument("--run", help="the run's id (default: the newest run)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--split", choices=["val", "test"], default="test")
    where.add_argument("--folder", type=Path, help="another folder with one sub-folder per class")
    p.add_argument(
        "--recalibrate",
        action="store_true",
        help="fit the run's temperature and unknown score again on the project's pictures "
        "(for runs trained before calibration existed)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.training import report_summary
    from cnnstudio.core.pipeline import evaluate_run
    from cnnstudio.core.runs import find_run
    from cnnstudio.core.runs.review import ReviewStore

    require_folder(args.folder)
    project = open_project(args.project)
    run_dir = find_run(project, args.run)
    if args.recalibrate:
        from cnnstudio.core.pipeline import calibrate_run

        calibrate_run(project, run_dir)
    report = evaluate_run(project, run_dir, split=args.split, folder=args.folder)
    flagged = [
        {k: row[k] for k in ("path", "label", "predicted", "confidence", "unknown_score")}
        for row in report.flagged_unknown()
    ]
    review = ReviewStore(run_dir, key=project.key)
    label_errors = review.leave_out(report.label_issues())
    if args.json:
        out = {"run": run_dir.name, "split": report.split, **report_summary(report)}
        # Likely label errors, without the pictures a person accepted as right (in the app's Evaluate).
        out["label_issues"] = label_errors
        out["labels_accepted"] = len(review.accepted)
        out["calibration"] = report.calibration
        out["unknown"] = {"threshold": report.unknown_threshold, "flagged": flagged}
        out["graded"] = report.graded  # how many pictures graded the run, and whether people labelled them
        print_json(out)
    else:
        who = report.graded_words()
        print(f"Run {run_dir.name} on {report.split} ({len(report.y_true)} images{' ' + who if who else ''})")
        print(report.format_table())
        print()
        print(report.format_confusion())
        print()
        print(calibration_text(report.calibration, len(flagged), len(report.y_true)))
        accepted = (
            f" ({len(review.accepted)} accepted as right by a person are left out)" if review.accepted else ""
        )
        print(f"Likely label errors: {len(label_errors)}{accepted}.")
    return 0


def calibration_text(calibration: dict | None, flagged: int, total: int) -> str:
    """Plain words on how far the confidences can be trusted, and the pictures flagged as unknown."""
    if not calibration or not calibration.get("calibrated"):
        return (
            "Confidence: not calibrated (this run was trained before calibration existed). "
            "Run `cnnstudio evaluate PROJECT --recalibrate` to calibrate it."
        )
    lines = [
        f"Confidence: {calibration['status']}.",
        f"Calibration error (ECE, 15 bins) on these pictures: {calibration['ece_before']:.3f} before, "
        f"{calibration['ece_after']:.3f} after (0 = a shown 80% is right 80% of the time).",
    ]
    if calibration.get("unknown_threshold") is not None:
        lines.append(
            f"{flagged} of {total} pictures would be flagged as unlike the training pictures "
            f"(unknown score above {calibration['unknown_threshold']:.4g})."
        )
    return "\n".join(lines)
