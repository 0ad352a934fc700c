"""Pictures a person looked at and accepted as correctly labelled, remembered in a run folder.

"Accept" dismisses a likely label error: the label is right, the model is wrong. The choice is kept
in runs/<run>/label_review.json (keyed as project.json keys images), so the list stays short the next
time this run is evaluated, in the app or from the command line (`cnnstudio evaluate` leaves them out
of its likely label errors). The GUI wraps set_accepted in an undo command (gui/evaluate/review.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cnnstudio.core.atomic import write_json_atomic

REVIEW_FILE = "label_review.json"
SCHEMA_VERSION = 1


class ReviewStore:
    """The accepted pictures of one run. `key(path)` names a picture (Project.key)."""

    def __init__(self, run_dir: Path | None, key: Callable[[str], str] = str):
        self.run_dir = run_dir
        self.key = key
        self.accepted: set[str] = set()
        if run_dir is not None:
            try:
                data = json.loads((run_dir / REVIEW_FILE).read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("accepted"), list):
                    self.accepted = {str(k) for k in data["accepted"]}
            except (OSError, ValueError):
                pass

    def is_accepted(self, path: str) -> bool:
        return self.key(path) in self.accepted

    def set_accepted(self, paths: list[str], accepted: bool) -> None:
        keys = {self.key(p) for p in paths}
        self.accepted = self.accepted | keys if accepted else self.accepted - keys
        self.save()

    def save(self) -> None:
        if self.run_dir is None:
            return
        try:
            write_json_atomic(
                self.run_dir / REVIEW_FILE,
                {"schema_version": SCHEMA_VERSION, "accepted": sorted(self.accepted)},
            )
        except OSError:
            pass  # the run folder is read-only: the choice lasts this session only

    def leave_out(self, rows: list[dict]) -> list[dict]:
        """Label-error rows (each with a "path") without the pictures a person accepted."""
        return [row for row in rows if not self.is_accepted(row["path"])]
