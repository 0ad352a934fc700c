"""The dataset as a list of files: each with its label, split and, when it cannot be used, why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INDEX_SCHEMA_VERSION = 1
LAYOUTS = ("class_folders", "split_folders", "flat", "csv")


@dataclass(slots=True)
class Sample:
    path: str  # absolute, with "/" separators
    label: str | None = None  # None: unlabelled
    split: str | None = None  # "train" | "val" | "test"; None until assign_splits (or a split folder) sets it
    problem: str | None = None  # None: usable; otherwise a reason in plain words (see problems.py)
    given_split: bool = False  # the split comes from the folder layout (train/ val/ test/)
    width: int | None = None  # as shown (EXIF rotation applied); known once check_images has run
    height: int | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        return cls(
            path=data["path"],
            label=data.get("label"),
            split=data.get("split"),
            problem=data.get("problem"),
            given_split=bool(data.get("given_split", False)),
            width=data.get("width"),
            height=data.get("height"),
        )


@dataclass
class DatasetIndex:
    """Every file found in a source, usable or not (problems are listed, never fatal).

    `notes` holds remarks about the source as a whole, in plain words (for example images that sit
    outside any class folder); the health summary repeats them as warnings.
    """

    source: Path
    layout: str  # one of LAYOUTS
    samples: list[Sample]
    notes: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        """Sorted names of the labels present among usable samples."""
        return sorted({s.label for s in self.samples if s.problem is None and s.label is not None})

    def usable(self) -> list[Sample]:
        return [s for s in self.samples if s.problem is None]

    def problems(self) -> list[Sample]:
        return [s for s in self.samples if s.problem is not None]

    def counts(self) -> dict[str, int]:
        """Usable, labelled images per class, in class-name order."""
        counts: dict[str, int] = {}
        for s in self.samples:
            if s.problem is None and s.label is not None:
                counts[s.label] = counts.get(s.label, 0) + 1
        return {name: counts[name] for name in sorted(counts)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": INDEX_SCHEMA_VERSION,
            "source": str(self.source),
            "layout": self.layout,
            "notes": list(self.notes),
            "samples": [s.to_dict() for s in self.samples],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetIndex:
        version = data.get("schema_version", 1)
        if version > INDEX_SCHEMA_VERSION:
            raise ValueError(
                f"dataset index schema {version} is newer than this program ({INDEX_SCHEMA_VERSION})"
            )
        return cls(
            source=Path(data["source"]),
            layout=data["layout"],
            samples=[Sample.from_dict(d) for d in data["samples"]],
            notes=list(data.get("notes", [])),
        )
