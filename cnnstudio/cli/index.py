"""`cnnstudio index SOURCE`: list a dataset, check every picture, and print its health."""

from __future__ import annotations

import argparse
import os
from typing import Any

from cnnstudio.cli.args import print_json
from cnnstudio.cli.progress import count_progress

MAX_LISTED_PROBLEMS = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="list a folder or CSV of pictures, find files that cannot be used, and report the dataset's health",
        description=(
            "List the pictures of SOURCE with their classes, decode each one to find files that cannot be "
            "used, and report the dataset's health (class counts, balance, copies, tiny pictures). "
            "Exits with 0 when SOURCE could be read, even when some files have problems."
        ),
    )
    p.add_argument(
        "source",
        help="a folder (one sub-folder per class; or train/, val/, test/ folders of class folders; or "
        "pictures without labels) or a CSV file of path,label lines",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--quick",
        action="store_true",
        help="only list files and classes, opening no picture (damaged files are not found)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="decode with this many workers (default: one per core)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.core.dataset import health_summary, scan_source
    from cnnstudio.core.errors import UserError

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be 1 or more.")
    index = scan_source(args.source)
    if not args.quick:  # --quick imports neither Pillow nor numpy
        import warnings

        from PIL import Image

        from cnnstudio.core.dataset import check_images

        # A picture over Pillow's size limit is listed as a problem; the warning would only repeat it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        progress = count_progress("pictures", label="Checking pictures")
        check_images(index, workers=args.workers, progress=progress)
    split_warnings: list[str] = []
    if not args.quick:  # the quick listing stays a listing: no split, no file read
        from cnnstudio.core.dataset import assign_splits

        split_warnings = assign_splits(index)
    health = health_summary(index, find_duplicates=not args.quick)
    health.warnings.extend(split_warnings)
    report = _report(index, health, checked=not args.quick)
    if args.json:
        print_json(report, indent=1, ensure_ascii=False)
    else:
        print(_text(report, index.source))
    return 0


def _report(index: Any, health: Any, *, checked: bool) -> dict[str, Any]:
    return {
        "source": str(index.source),
        "layout": index.layout,
        "checked": checked,
        "classes": health.classes,
        "usable": health.usable,
        "unlabelled": health.unlabelled,
        "problems": [{"path": s.path, "reason": s.problem} for s in index.problems()],
        "splits": health.split_counts,
        "warnings": health.warnings,
        "health": health.to_dict(),
    }


LAYOUT_WORDS = {
    "class_folders": "one folder per class",
    "split_folders": "train/, val/, test/ folders of class folders",
    "flat": "pictures without labels",
    "csv": "CSV of path,label lines",
}


def _text(report: dict[str, Any], source: Any) -> str:
    root = str(source) if report["layout"] != "csv" else os.path.dirname(str(source))

    def short(path: str) -> str:
        rel = os.path.relpath(path, root) if path.startswith(root) else path
        return rel.replace(os.sep, "/")

    lines = [f"Source: {report['source']} ({LAYOUT_WORDS.get(report['layout'], report['layout'])})"]
    if not report["checked"]:
        lines.append("Quick listing: no picture was opened, so damaged files are not found yet.")
    classes = report["classes"]
    splits = report["splits"]
    lines.append(f"Classes ({len(classes)}):")
    width = max((len(c) for c in classes), default=0)
    for name, n in classes.items():
        per_split = ", ".join(f"{sp} {splits[sp].get(name, 0)}" for sp in splits)
        lines.append(f"  {name:<{width}}  {n:>6}" + (f"   ({per_split})" if per_split else ""))
    total = report["usable"] + len(report["problems"])
    usable = f"Usable pictures: {report['usable']} of {total}"
    if report["unlabelled"]:
        usable += f" ({report['unlabelled']} without a label)"
    lines.append(usable)
    problems = report["problems"]
    if problems:
        lines.append(f"Problems ({len(problems)}):")
        for p in problems[:MAX_LISTED_PROBLEMS]:
            lines.append(f"  {short(p['path'])}: {p['reason']}")
        if len(problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {len(problems) - MAX_LISTED_PROBLEMS} more (--json lists them all)")
    if report["warnings"]:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in report["warnings"])
    return "\n".join(lines)
