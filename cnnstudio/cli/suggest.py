"""`cnnstudio suggest PROJECT`: a trained run proposes a label for every unlabelled picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import print_json, probability


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "suggest",
        help="let a trained run suggest labels for the unlabelled pictures (most useful to check first)",
        description=(
            "For every unlabelled picture of PROJECT, the run's suggested class, its confidence and "
            "whether the picture looks unlike the training pictures. Listed most useful first: the "
            "pictures the model hesitates most about (smallest margin between its two likeliest classes), "
            "taken in turn from each suggested class. --accept-above records confident suggestions as "
            "labels in project.json (marked as accepted suggestions, so they can be listed and undone); "
            "the picture folders are never changed. Accepted suggestions train the next run but never "
            "grade it: validation and test keep the pictures labelled by people."
        ),
    )
    p.add_argument("project", type=Path, metavar="PROJECT", help="a project folder (or its dataset folder)")
    p.add_argument("--run", help="the run's id (default: the best finished run)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--accept-above",
        type=probability,
        metavar="P",
        help="record every suggestion with confidence at least P (0 to 1, or a percentage) that is not "
        "flagged unknown as that picture's label (pictures flagged unknown are never accepted)",
    )
    p.add_argument(
        "--suggestions-in-validation",
        choices=["never", "apart"],
        help="alone: a project setting. never (the default): accepted suggestions only train. apart: a "
        "share of them also goes to validation, where Evaluate reports them separately from the "
        "pictures labelled by people",
    )
    p.add_argument("--limit", type=int, metavar="N", help="list only the first N suggestions")
    p.add_argument(
        "--label-errors",
        action="store_true",
        help="instead: find likely label errors among the training pictures by k-fold cross-validation",
    )
    p.add_argument("--folds", type=int, default=None, help="with --label-errors: number of folds (default 5)")
    p.add_argument("--epochs", type=int, default=None, help="with --label-errors: epochs per fold")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.progress import count_progress, print_step
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.labels.edits import LabelEditor
    from cnnstudio.core.pipeline import open_or_create_project
    from cnnstudio.core.suggest import DEFAULT_FOLDS, accept_suggestions, suggest, training_label_errors

    if args.limit is not None and args.limit < 0:
        raise UserError("--limit must be 0 or more.")
    project = open_or_create_project(args.project)
    if args.suggestions_in_validation is not None:
        apart = args.suggestions_in_validation == "apart"
        project.update(lambda p: setattr(p, "suggestions_apart", apart))
        print(
            "Accepted suggestions now also go to validation, where they are reported apart from the "
            "pictures labelled by people."
            if apart
            else "Accepted suggestions now only train; validation and test keep the pictures labelled by "
            "people."
        )
        return 0
    if args.label_errors:
        folds = args.folds or DEFAULT_FOLDS
        print_step(f"Training {folds} cross-validation folds on the training pictures...")
        report = training_label_errors(
            project, args.run, folds=folds, epochs=args.epochs, progress=count_progress("folds")
        )
        if args.json:
            print_json(report.to_dict(), ensure_ascii=False)
        else:
            issues = report.issues[: args.limit] if args.limit is not None else report.issues
            for item in issues:
                print(
                    f"{item['path']}  labelled {item['label']}, looks like {item['suggested']} "
                    f"({item['suggested_confidence']:.0%})"
                )
            print(
                f"\n{len(report.issues)} likely label errors among {report.pictures} training pictures "
                f"({report.folds} folds, {report.seconds:.0f} s)."
            )
        return 0
    index = project.index(check=True)
    result = suggest(project, args.run, index=index, progress=count_progress("pictures"))
    accepted = 0
    if args.accept_above is not None:
        editor = LabelEditor(project, index)
        edit = accept_suggestions(editor, result.suggestions, result.run, above=args.accept_above)
        if edit.paths:
            editor.apply(edit)
        accepted = len(edit.paths)
    shown = result.suggestions[: args.limit] if args.limit is not None else result.suggestions
    if args.json:
        out = {"run": result.run, "suggestions": [s.to_dict() for s in shown], "accepted": accepted}
        print_json(out, ensure_ascii=False)
        return 0
    print_step(f"Suggestions by run {result.run}, most useful to check first:")
    width = max((len(s.label) for s in shown), default=5)
    for s in shown:
        flag = "  (unlike the training pictures)" if s.unknown else ""
        print(f"{s.label:<{width}}  {s.confidence:6.1%}  {s.path}{flag}")
    if len(shown) < len(result.suggestions):
        print(f"... and {len(result.suggestions) - len(shown)} more")
    line = f"\n{len(result.suggestions)} unlabelled pictures."
    if args.accept_above is not None:
        line += (
            f" Accepted {accepted} suggestions at {args.accept_above:.0%} or more (recorded in project.json; "
            "never a picture flagged unknown). They train the next run and never grade it."
        )
    print(line)
    return 0
