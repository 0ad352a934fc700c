"""`cnnstudio ensemble PROJECT RUN RUN...`: combine runs into one model that averages their answers.

The runs' weights are chosen on the validation pictures by greedy ensemble selection (Caruana et al.
2004; --weights equal or accuracy for the others). Evaluates the ensemble and each run on the
validation and test pictures; with --out, saves it as a bundle (.cnnmodel) or as one ONNX graph
(.onnx), loaded back and checked like every export.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import open_project, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ensemble",
        help="combine two or more runs into one model (average of their probabilities)",
        description=__doc__,
    )
    p.add_argument("project", type=Path, help="the project folder")
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help="run names (folder names under runs/) or run folders"
    )
    p.add_argument("--out", type=Path, default=None, help="save it: FILE.cnnmodel (bundle) or FILE.onnx")
    p.add_argument(
        "--weights",
        choices=("greedy", "equal", "accuracy"),
        default=None,
        help="how the runs count: greedy (default) chooses the weights on the validation pictures by greedy "
        "ensemble selection, so the ensemble is never worse there than its best run (a run that only "
        "makes it worse gets weight 0); equal; accuracy, in proportion to each run's validation accuracy",
    )
    p.add_argument("--weighted", action="store_true", help="the same as --weights accuracy")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.progress import print_step
    from cnnstudio.core.ensemble import (
        ensemble_arrays,
        evaluate_ensemble,
        export_ensemble,
        has_validation,
        load_ensemble,
        weigh_members,
    )
    from cnnstudio.core.errors import UserError

    project = open_project(args.project)
    if len(args.runs) < 2:
        raise UserError("An ensemble needs at least two runs.")
    if args.weighted and args.weights not in (None, "accuracy"):
        raise UserError(f"--weighted means --weights accuracy; it cannot go with --weights {args.weights}.")
    method = "accuracy" if args.weighted else args.weights or "greedy"
    print_step("Loading the runs and decoding the pictures...")
    ensemble = load_ensemble(project, [_run_ref(r) for r in args.runs])
    arrays = ensemble_arrays(project, ensemble)
    if method == "greedy" and args.weights is None and not has_validation(arrays):
        print_step("The project has no validation pictures to choose the weights on: the runs count equally.")
        method = "equal"
    weigh_members(ensemble, arrays, method)
    evaluations = {}
    for split in ("val", "test"):
        if len(arrays[ensemble.members[0].decode_key][split].y):
            evaluations[split] = evaluate_ensemble(project, ensemble, split, arrays)
    if not evaluations:
        raise UserError("The project has no validation or test pictures to evaluate the ensemble on.")
    export = None
    if args.out is not None:
        print_step(f"Saving and checking {args.out}...")
        export = export_ensemble(project, ensemble, args.out, arrays=arrays, evaluations=evaluations)
    if args.json:
        out = {
            **ensemble.to_dict(),
            "evaluation": {split: e.to_dict() for split, e in evaluations.items()},
            "export": export.to_dict() if export is not None else None,
        }
        print_json(out)
        return 0
    print(f"Ensemble of {len(ensemble.members)} runs ({ensemble.describe_weighting()}):")
    for m, w in zip(ensemble.members, ensemble.weights, strict=True):
        unused = "  (not used: it did not help on the validation pictures)" if w == 0 else ""
        print(f"  {m.name}  weight {w:.3f}{unused}")
    for split, e in evaluations.items():
        words = "Validation" if split == "val" else "Test"
        print(f"\n== {words} pictures ({e.report.num_samples}) ==")
        print(f"{'':<34}{'accuracy':>10}{'macro F1':>10}")
        print(f"{'ensemble':<34}{e.report.accuracy:>10.4f}{e.report.macro['f1']:>10.4f}")
        for name, r in e.members.items():
            print(f"{name[:33]:<34}{r.accuracy:>10.4f}{r.macro['f1']:>10.4f}")
    last = evaluations.get("test") or evaluations["val"]
    print(f"\nThe ensemble on the {'test' if 'test' in evaluations else 'validation'} pictures:")
    print(last.report.format_table())
    print()
    print(last.report.format_confusion())
    if export is not None:
        print(f"\nSaved {export.path}: {export.message}")
    return 0


def _run_ref(text: str):
    """A run folder when the argument is one, else a run name."""
    from cnnstudio.core.runs import CONFIG_FILE

    path = Path(text)
    return path if (path / CONFIG_FILE).exists() else text
