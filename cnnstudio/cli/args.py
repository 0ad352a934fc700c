"""Argument helpers every command shares: argparse types, the project to open, --json printing.

Light on purpose (argparse, json, pathlib): `cnnstudio index --quick` must not import torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def positive_int(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number of 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number of 0 or more")
    return value


def probability(text: str) -> float:
    """argparse type: 0 to 1, or 0% to 100%."""
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1 (or 0% and 100%)")
    return value


def add_threshold_arguments(p: argparse.ArgumentParser) -> None:
    """--threshold and --unknown-threshold, as `predict` and `serve` both take them (core.trust.verdict)."""
    p.add_argument(
        "--threshold",
        type=probability,
        default=0.0,
        metavar="T",
        help='label pictures whose confidence is below T (0 to 1) as "unknown"',
    )
    p.add_argument(
        "--unknown-threshold",
        type=non_negative_float,
        default=None,
        metavar="S",
        help="flag pictures whose unknown score is above S as unlike the training pictures "
        "(default: the threshold chosen when the model was calibrated)",
    )


def require_folder(path: Path | None) -> None:
    """A UserError when a given path is not a folder (None: nothing given, nothing to check)."""
    from cnnstudio.core.errors import UserError

    if path is not None and not Path(path).is_dir():
        raise UserError(f"{path} is not a folder.")


def open_project(folder: Path | str):
    """The project in `folder`, or a UserError in plain words (naming the folder as the user typed it)
    when there is none or it is damaged."""
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.project import PROJECT_FILE, Project

    if not (Path(folder).expanduser() / PROJECT_FILE).exists():
        raise UserError(f"{folder} is not a CNN Studio project (it has no {PROJECT_FILE}).")
    return Project.open(folder)


def print_json(data: Any, *, indent: int = 2, ensure_ascii: bool = True) -> None:
    """The one JSON object a command prints on stdout with --json (progress goes to stderr)."""
    print(json.dumps(data, indent=indent, ensure_ascii=ensure_ascii))
