"""A project is a folder: project.json (versioned, written atomically), runs/, cache/.

The user's images stay where they are. project.json records where they are (relative to the project
and absolute, so a project that moved together with its data still finds it), the label edits made in
the app, the stored train/val/test split, the model design and the training settings.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.atomic import write_json_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.project.lock import project_lock
from cnnstudio.core.project.merge import Merge, merge, normalized

if TYPE_CHECKING:
    import numpy as np

    from cnnstudio.core.dataset import DatasetIndex

SCHEMA_VERSION = 1
PROJECT_FILE = "project.json"
SPLITS = ("train", "val", "test")


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older project.json up to SCHEMA_VERSION. Version 1 is the first; later versions add steps."""
    version = data.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise UserError("This project file is not one CNN Studio can read (it has no valid version).")
    if version > SCHEMA_VERSION:
        raise UserError(
            f"This project was saved by a newer CNN Studio (file version {version}); "
            "please update CNN Studio to open it."
        )
    return data


def _replace(target: dict, new: dict) -> None:
    if target != new:
        target.clear()
        target.update(new)


@dataclass
class SplitData:
    """One split's images as the decode cache holds them, ready for training or evaluation."""

    X: np.ndarray  # uint8 (N, C, H, W)
    y: np.ndarray  # int64 (N,)
    paths: list[str]
    suggested: int = 0  # how many of them are labelled by a suggestion accepted in bulk


@dataclass
class Project:
    folder: Path
    name: str
    source: Path | None = None
    labels: dict[str, str | None] = field(default_factory=dict)  # key -> label edits (None: unlabelled)
    excluded: set[str] = field(default_factory=set)
    split_seed: int = 0
    split_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_assignments: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    train_config: dict[str, Any] | None = None
    extra_classes: list[str] = field(default_factory=list)  # classes made in the app that have no image yet
    # key -> {"label", "run", "confidence", "source"}: labels recorded by accepting a model's suggestion,
    # "source" "bulk" (they only train) or "confirmed" one by one (core.dataset.split)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Count accepted suggestions in validation apart (reported separately), instead of training only.
    suggestions_apart: bool = False
    created: str = ""
    warnings: list[str] = field(default_factory=list)  # from the last index(): small classes and such
    # project.json as this object last read or wrote it: what save() diffs against (see lock.py, merge.py)
    _base: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ---- files -------------------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self.folder / PROJECT_FILE

    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.folder / "cache"

    @classmethod
    def create(cls, folder: Path | str, source: Path | str | None = None, name: str | None = None) -> Project:
        folder = Path(folder).expanduser().resolve()
        if (folder / PROJECT_FILE).exists():
            raise UserError(f"There is already a project in {folder}. Open it instead.")
        if source is not None:
            source = Path(source).expanduser().resolve()
            if not source.exists():
                raise UserError(f"The folder {source} does not exist.")
        folder.mkdir(parents=True, exist_ok=True)
        project = cls(
            folder=folder,
            name=name or folder.name,
            source=source,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        project.save()
        return project

    @classmethod
    def open(cls, folder: Path | str) -> Project:
        folder = Path(folder).expanduser().resolve()
        file = folder / PROJECT_FILE
        if not file.exists():
            raise UserError(f"{folder} is not a CNN Studio project (it has no {PROJECT_FILE}).")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"The project file {file} is damaged and cannot be read ({exc}).") from exc
        if not isinstance(data, dict):
            raise UserError(f"The project file {file} is damaged and cannot be read.")
        data = migrate(data)
        project = cls(folder=folder, name=folder.name)
        project._take(data)
        return project

    @staticmethod
    def _read(file: Path) -> dict[str, Any]:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"The project file {file} is damaged and cannot be read ({exc}).") from exc
        if not isinstance(data, dict):
            raise UserError(f"The project file {file} is damaged and cannot be read.")
        return migrate(data)

    def _take(self, data: dict[str, Any], base: dict[str, Any] | None = None) -> None:
        """Set every field from project.json's `data`; `base` (default: data) is what the file holds."""
        folder = self.folder
        split = data.get("split", {})
        self.name = data.get("name", folder.name)
        self.source = self._find_source(folder, data.get("source"))
        # In place: editors and views hold these containers.
        _replace(self.labels, data.get("labels", {}))
        self.excluded.clear()
        self.excluded.update(data.get("excluded", []))
        self.split_seed = int(split.get("seed", 0))
        self.split_ratios = tuple(split.get("ratios", (0.7, 0.15, 0.15)))
        _replace(self.split_assignments, split.get("assignments", {}))
        self.suggestions_apart = bool(split.get("suggestions_apart", False))
        self.spec = data.get("spec")
        self.train_config = data.get("train_config")
        self.extra_classes[:] = [str(c) for c in data.get("extra_classes", [])]
        _replace(self.accepted, data.get("accepted_suggestions", {}))
        self.created = data.get("created", "")
        self._base = normalized(data if base is None else base)

    @staticmethod
    def _find_source(folder: Path, stored: dict[str, str] | None) -> Path | None:
        """The data folder: relative to the project first (both moved together), then the absolute path."""
        if not stored:
            return None
        relative = stored.get("relative")
        if relative is not None:
            candidate = (folder / relative).resolve()
            if candidate.exists():
                return candidate
        return Path(stored["absolute"]) if stored.get("absolute") else None

    def to_dict(self) -> dict[str, Any]:
        source = None
        if self.source is not None:
            source = {"absolute": self.source.as_posix(), "relative": None}
            try:
                source["relative"] = Path(os.path.relpath(self.source, self.folder)).as_posix()
            except ValueError:  # another drive on Windows
                pass
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "created": self.created,
            "source": source,
            "labels": dict(sorted(self.labels.items())),
            "excluded": sorted(self.excluded),
            "split": {
                "seed": self.split_seed,
                "ratios": list(self.split_ratios),
                "assignments": dict(sorted(self.split_assignments.items())),
                "suggestions_apart": self.suggestions_apart,
            },
            "spec": self.spec,
            "train_config": self.train_config,
            "extra_classes": list(self.extra_classes),
            "accepted_suggestions": dict(sorted(self.accepted.items())),
        }

    def save(self) -> None:
        """Write what this object changed since it last read or wrote project.json, onto the file's
        current state, under the project's lock: other processes' changes meanwhile are kept (and
        taken into this object). The same entry changed in both: this object's value wins."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with project_lock(self.folder):
            disk = self._read(self.file)
            mine = normalized(self.to_dict())
            merged = merge(self._base, mine, disk).data if disk else mine
            merged = {**merged, "schema_version": SCHEMA_VERSION}
            write_json_atomic(self.file, merged)
            self._take(merged)

    def update(self, change: Callable[[Project], None]) -> None:
        """change(self) on the freshest state, saved at once: for read-modify-write of one thing."""
        with project_lock(self.folder):
            self.reload()
            change(self)
            self.save()

    def reload(self) -> Merge:
        """Take in what other processes wrote to project.json, keeping this object's unsaved changes.

        Returns what they changed (in words) and the conflicts: pictures labelled differently here and
        there (this object's label is kept; set the other one to take theirs)."""
        disk = self._read(self.file)
        if not disk or normalized(disk) == self._base:
            return Merge(data=self._base)
        result = merge(self._base, normalized(self.to_dict()), normalized(disk))
        self._take(result.data, base=disk)
        removed = result.theirs_removed | result.mine_removed
        if removed:  # a removed edit means the folder's label, not "unlabelled"
            folder = self.folder_labels(removed)
            result.conflicts = [
                (
                    k,
                    folder[k] if k in result.mine_removed else mine,
                    folder[k] if k in result.theirs_removed else theirs,
                )
                for k, mine, theirs in result.conflicts
            ]
        return result

    def folder_labels(self, keys) -> dict[str, str | None]:
        """The labels the image folder itself gives these pictures (what they have without a label
        edit); None for a picture it does not list or does not label."""
        from cnnstudio.core.dataset import scan_source

        out: dict[str, str | None] = dict.fromkeys(keys)
        if self.source is None or not out:
            return out
        try:
            index = scan_source(self.source)
        except UserError:  # the folder is gone: nothing to restore from
            return out
        for sample in index.samples:
            key = self.key(sample.path)
            if key in out:
                out[key] = sample.label
        return out

    def snapshot(self) -> Project:
        """An independent copy that shares no container with this object: for work in another thread
        (a worker reads and may save it while the app goes on editing this one)."""
        return copy.deepcopy(self)

    def unsaved(self) -> bool:
        """Whether this object has changes not yet written to project.json."""
        return normalized(self.to_dict()) != self._base

    # ---- data --------------------------------------------------------------------------------
    def key(self, path: str) -> str:
        """How project.json names an image: relative to the data folder when inside it."""
        if self.source is not None:
            try:
                return Path(path).relative_to(self.source).as_posix()
            except ValueError:
                pass
        return Path(path).as_posix()

    def index(self, check: bool = True, progress=None, should_stop=None) -> DatasetIndex:
        """The dataset as the project sees it: scanned, checked, label edits and stored split applied.

        Samples that are new since the split was stored get a seeded split of their own; the stored
        assignments never move, so a rerun sees the same split. New assignments are saved. Pictures
        labelled by accepting suggestions in bulk are placed by their own rule, never by a stored
        assignment (core.dataset.split.split_suggestions: only people's labels grade a model).
        """
        from cnnstudio.core.dataset import check_images, scan_source

        if self.source is None:
            raise UserError("This project has no image folder yet. Choose a folder of images first.")
        if not self.source.exists():
            raise UserError(
                f"The image folder {self.source} cannot be found. It may have been moved or renamed."
            )
        index = scan_source(self.source)
        if check:
            index = check_images(index, progress=progress, should_stop=should_stop)
        kept = []
        for sample in index.samples:
            key = self.key(sample.path)
            if key in self.excluded:
                continue
            if key in self.labels:
                sample.label = self.labels[key]
            kept.append(sample)
        index.samples = kept
        suggested, self.warnings = self.split_index(index)
        changed = False
        for sample in index.samples:
            key = self.key(sample.path)
            stored = self.split_assignments.get(key)
            if sample.given_split or sample.problem is not None or sample.label is None:
                continue
            if sample.path in suggested:
                continue
            if stored in SPLITS:
                sample.split = stored
            elif sample.split is not None:
                self.split_assignments[key] = sample.split
                changed = True
        if changed:
            self.save()
        return index

    def split_index(self, index: DatasetIndex) -> tuple[frozenset[str], list[str]]:
        """Draw the seeded split of `index`, accepted suggestions by their rule; returns the paths of
        those suggestions and the split's warnings. Stored assignments are not applied."""
        from cnnstudio.core.dataset.split import assign_splits, suggested_paths

        suggested = suggested_paths(index.samples, self.accepted, self.key)
        warnings = assign_splits(
            index,
            ratios=self.split_ratios,
            seed=self.split_seed,
            suggested=suggested,
            suggestions_apart=self.suggestions_apart,
        )
        return suggested, warnings

    def resplit(self, seed: int, ratios: tuple[float, float, float] | None = None) -> None:
        """Forget the stored split; the next index() draws a new one with this seed."""
        self.split_seed = seed
        if ratios is not None:
            self.split_ratios = ratios
        self.split_assignments = {}
        self.save()

    def set_label(self, path: str, label: str | None) -> None:
        self.labels[self.key(path)] = label

    @staticmethod
    def class_names(index: DatasetIndex) -> list[str]:
        return sorted({s.label for s in index.samples if s.problem is None and s.label is not None})

    def arrays(
        self,
        index: DatasetIndex,
        height: int,
        width: int,
        channels: int,
        fit: str,
        progress=None,
        should_stop=None,
    ) -> tuple[dict[str, SplitData], list[str]]:
        """Each split's usable, labelled images from the decode cache (decoding only what is new).

        Accepted suggestions that a project counts apart in validation (`suggestions_apart`) are not in
        "val" but in "val_apart", so they never mix with the people's labels that grade a model.
        """
        import numpy as np

        from cnnstudio.core.dataset import DecodeCache
        from cnnstudio.core.dataset.split import suggested_paths

        names = self.class_names(index)
        if len(names) < 2:
            raise UserError(
                f"Training needs at least 2 classes with images; this dataset has {len(names)}. "
                "Put each class's pictures in a sub-folder named after the class."
            )
        lookup = {name: i for i, name in enumerate(names)}
        cache = DecodeCache(self.cache_dir)
        suggested = suggested_paths(index.samples, self.accepted, self.key)
        out: dict[str, SplitData] = {}
        for split in (*SPLITS, "val_apart"):
            wanted = "val" if split == "val_apart" else split
            samples = [
                s
                for s in index.samples
                if s.problem is None
                and s.label is not None
                and s.split == wanted
                and (split != "val" or s.path not in suggested)
                and (split != "val_apart" or s.path in suggested)
            ]
            if split == "val_apart" and not samples:
                continue
            paths = [s.path for s in samples]
            y = np.array([lookup[s.label] for s in samples], dtype=np.int64)
            if paths:
                X = cache.load(
                    paths, height, width, channels, fit, progress=progress, should_stop=should_stop
                )
            else:
                X = np.zeros((0, channels, height, width), dtype=np.uint8)
            out[split] = SplitData(X=X, y=y, paths=paths, suggested=sum(p in suggested for p in paths))
        return out, names

    def manifest_hash(self, index: DatasetIndex) -> str:
        """A fingerprint of what training sees: each usable file, its label and its split."""
        h = hashlib.sha256()
        for s in sorted(index.samples, key=lambda s: s.path):
            if s.problem is None and s.label is not None:
                h.update(f"{self.key(s.path)}\t{s.label}\t{s.split}\n".encode())
        return h.hexdigest()[:16]

    def list_runs(self) -> list[Path]:
        from cnnstudio.core.runs import run_folders

        return run_folders(self.runs_dir)
