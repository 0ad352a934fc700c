"""`cnnstudio predict MODEL IMAGE_OR_FOLDER...`: classify pictures with a bundle or a project's run."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import add_threshold_arguments, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify pictures or folders with a .cnnmodel file or a project's best run",
        description=(
            "Predict the class of each picture, preprocessed exactly as in training. Files that are "
            "not usable pictures are listed and skipped."
        ),
    )
    p.add_argument(
        "model", type=Path, metavar="MODEL", help="a .cnnmodel file, or a project folder (its newest run)"
    )
    p.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="IMAGE_OR_FOLDER",
        help="pictures, or folders (searched with sub-folders)",
    )
    p.add_argument("--run", help="with a project: the run's id (default: the newest run)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the predictions to a CSV file")
    p.add_argument(
        "--sort-into",
        type=Path,
        metavar="DIR",
        help="copy each picture into DIR/<class>/, or DIR/unknown/ when it is unlike the training "
        "pictures (never overwrites)",
    )
    p.add_argument(
        "--move",
        action="store_true",
        help="with --sort-into: move the pictures instead of copying; an undo journal is kept, and "
        "`cnnstudio undo-move` puts every picture back",
    )
    add_threshold_arguments(p)
    p.add_argument("--batch-size", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON object with the predictions")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.progress import count_progress, print_step
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.export import Predictor
    from cnnstudio.core.models import load_model

    if args.move and args.sort_into is None:
        raise UserError("--move needs --sort-into DIR: it says where the pictures go.")
    loaded = load_model(args.model, run=args.run)
    print_step(f"Model: {loaded.source} ({len(loaded.class_names)} classes)")
    predictor = Predictor(
        loaded,
        threshold=args.threshold,
        batch_size=max(1, args.batch_size),
        unknown_threshold=args.unknown_threshold,
    )
    if loaded.calibration is None:
        print_step(
            "An ensemble's confidences are its members' averaged probabilities (not calibrated), "
            "and an ensemble does not flag pictures unlike the training pictures."
        )
    elif not predictor.has_unknown:
        print_step(
            "This model is not calibrated (it was trained before calibration existed): confidences are "
            "the raw ones and pictures unlike the training pictures are not flagged. "
            "`cnnstudio evaluate PROJECT --recalibrate` calibrates a run."
        )
    result = predictor.predict(args.inputs, progress=count_progress("pictures"))
    if not result.predictions and not result.problems:
        names = ", ".join(str(p) for p in args.inputs)
        raise UserError(f"No pictures found in {names}.")
    sorted_files = []
    journal = None
    if args.sort_into is not None and result.predictions:
        sorted_files, journal = _sort(result.predictions, args.sort_into, args.move)
    if args.csv is not None:
        result.write_csv(args.csv)

    if args.json:
        out = result.to_dict()
        if args.sort_into is not None:
            out["sorted"] = [{"from": a, "to": b} for a, b in sorted_files]
        if journal is not None:
            out["undo_journal"] = str(journal)
        print_json(out, ensure_ascii=False)
    else:
        print(result.format_table())
        if result.problems:
            print(f"\nSkipped {len(result.problems)} file(s) that are not usable pictures:")
            for problem in result.problems:
                print(f"  {problem.path}: {problem.reason}")
        counts = ", ".join(f"{label} {n}" for label, n in result.counts().items())
        print(f"\n{len(result.predictions)} pictures predicted: {counts or 'none'}")
        unknown = sum(1 for p in result.predictions if p.unknown)
        if result.unknown_threshold is not None:
            print(
                f"{unknown} of them look unlike the training pictures (unknown score above "
                f"{result.unknown_threshold:.4g}); their best guess is shown but may be meaningless"
            )
        if args.csv is not None:
            print(f"Predictions written to {args.csv}")
        if sorted_files:
            verb = "Moved" if args.move else "Copied"
            where = "one folder per class" + (
                ", unknown/ for pictures unlike the training ones" if unknown else ""
            )
            print(f"{verb} {len(sorted_files)} pictures into {args.sort_into} ({where})")
        if journal is not None:
            print(f"To put every picture back where it was: cnnstudio undo-move {_quoted(journal)}")
    return 0 if result.predictions else 1


def _sort(predictions, dest: Path, move: bool) -> tuple[list[tuple[str, str]], Path | None]:
    """Copy or move the pictures into class folders; a move writes the undo journal the app's Move
    writes (in the app's data folder), before the first picture is touched."""
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.export.sorting import SortError, new_sort_journal, sort_into
    from cnnstudio.core.paths import user_data_dir

    if not move:
        return sort_into(predictions, dest), None
    journal = new_sort_journal(user_data_dir() / "journal")
    journal.parent.mkdir(parents=True, exist_ok=True)
    try:
        return sort_into(predictions, dest, move=True, journal=journal), journal
    except SortError as exc:
        if exc.journal is None or not Path(exc.journal).exists():
            raise
        raise UserError(f"{exc} To put them back: cnnstudio undo-move {_quoted(Path(exc.journal))}") from None


def _quoted(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))
