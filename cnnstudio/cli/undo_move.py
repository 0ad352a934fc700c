"""`cnnstudio undo-move [JOURNAL]`: put back the pictures that `predict --sort-into DIR --move` moved.

`predict --move` writes an undo journal (the same one the app's "Move" writes) before it touches the
first picture, and prints this command with the journal's path. Without JOURNAL, the newest move that
is not undone yet is put back. Copies are never involved: only moved pictures go back, folders the
move created are removed when empty, and no file is overwritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "undo-move",
        help="put back the pictures a `predict --sort-into DIR --move` moved",
        description=__doc__,
    )
    p.add_argument(
        "journal",
        type=Path,
        nargs="?",
        metavar="JOURNAL",
        help="the undo journal `predict --move` printed (default: the newest move not undone yet)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the pictures put back")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.progress import print_step
    from cnnstudio.core.export.sorting import undo_sort
    from cnnstudio.core.labels.journal import read_journal

    journal = args.journal if args.journal is not None else _newest_move()
    record = read_journal(journal)
    if record.get("kind") != "sort_predictions" or record.get("mode") != "move":
        from cnnstudio.core.errors import UserError

        raise UserError(f"{journal} is not the undo journal of a move of predicted pictures.")
    print_step(
        f"Putting back the {len(record.get('ops', []))} pictures moved into {record.get('destination')}"
    )
    back = undo_sort(journal)
    if args.json:
        print_json({"journal": str(journal), "restored": [{"from": a, "to": b} for a, b in back]})
    else:
        print(f"Put {len(back)} pictures back where they were.")
    missing = len(record.get("ops", [])) - len(back)
    if missing:
        print_step(
            f"{missing} pictures were not moved back: they were not moved, or were moved or deleted "
            "since, or a file now has their old name (nothing was overwritten)."
        )
    return 0


def _newest_move() -> Path:
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.labels.journal import read_journal
    from cnnstudio.core.paths import user_data_dir

    folder = user_data_dir() / "journal"
    for journal in sorted(folder.glob("sort-*.json"), reverse=True):
        try:
            record = read_journal(journal)
        except UserError:
            continue
        if record.get("mode") == "move" and record.get("status") != "undone":
            return journal
    raise UserError(f"There is no move to undo (no undo journal in {folder}).")
