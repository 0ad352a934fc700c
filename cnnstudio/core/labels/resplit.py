"""Re-splitting: a new seeded split for a project's images, or a split for images labelled in the app.

Both follow the rule of `Project.index()`: splits the folders give stay, unusable and unlabelled
images get none, and pictures labelled by accepting suggestions in bulk go where
core.dataset.split.split_suggestions puts them (training: only people's labels grade a model). The
split of people's labels is stored in project.json (`Project.split_assignments`); the suggestions'
is not (it follows from their marks, and a person who relabels one gives it its own place back).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex, Sample
    from cnnstudio.core.project import Project


def resplit(project: Project, index: DatasetIndex, seed: int) -> list[str]:
    """Draw a new seeded split for every image whose split the folders do not give; store it.

    The same rule as `Project.index()`: given splits stay, unusable and unlabelled images get none.
    Returns the split's warnings (plain words). The caller saves the project.
    """
    project.split_seed = seed
    project.split_assignments = {}
    suggested, project.warnings = project.split_index(index)
    _store_splits(project, index.samples, suggested)
    return project.warnings


def fill_missing_splits(project: Project, index: DatasetIndex) -> int:
    """Give a split to usable, labelled images that have none yet (labelled in the app); returns how
    many images changed split.

    The split is drawn as `Project.index()` would draw it (so images labelled in the app spread over
    training, validation and test in the project's ratios), over the classes concerned only; splits
    already drawn never move, so labelling a few images does not reshuffle the rest. Accepted
    suggestions (bulk) are placed by their rule whatever split they had; a picture that stops being
    one (a person relabelled it) takes its stored place, or a new one drawn as for a new label.
    """
    from cnnstudio.core.dataset import DatasetIndex
    from cnnstudio.core.dataset.split import suggested_paths
    from cnnstudio.core.project import SPLITS

    suggested = suggested_paths(index.samples, project.accepted, project.key)
    stored = project.split_assignments
    usable = [s for s in index.samples if s.problem is None and s.label is not None]
    before = {s.path: s.split for s in usable}
    missing = []
    for s in usable:
        if s.path in suggested or s.given_split:
            continue
        place = stored.get(project.key(s.path))
        if place in SPLITS:
            s.split = place
        else:
            missing.append(s)
    unplaced = [
        s for s in usable if s.path in suggested and (project.suggestions_apart or s.split != "train")
    ]
    if missing or unplaced:
        classes = {s.label for s in missing} | {s.label for s in unplaced}
        members = [s for s in usable if s.label in classes]
        drawn = {s.path for s in missing}
        kept = [(s, s.split) for s in members if s.path not in suggested and s.path not in drawn]
        project.split_index(DatasetIndex(source=index.source, layout=index.layout, samples=members))
        for sample, split in kept:
            sample.split = split
        _store_splits(project, missing, suggested)
    return sum(before[s.path] != s.split for s in usable)


def _store_splits(project: Project, samples: Iterable[Sample], suggested: frozenset[str]) -> None:
    for sample in samples:
        if sample.given_split or sample.problem is not None or sample.label is None or sample.split is None:
            continue
        if sample.path in suggested:
            continue  # placed by their rule, never stored
        project.split_assignments[project.key(sample.path)] = sample.split
