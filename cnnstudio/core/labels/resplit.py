"""Re-splitting: a new seeded split for a project's images, or a split for images labelled in the app.

Both follow the rule of `Project.index()`: splits the folders give stay, unusable and unlabelled
images get none. The split is stored in project.json (`Project.split_assignments`).
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
    from cnnstudio.core.dataset import assign_splits

    project.split_seed = seed
    project.split_assignments = {}
    project.warnings = assign_splits(index, ratios=project.split_ratios, seed=seed)
    _store_splits(project, index.samples)
    return project.warnings


def fill_missing_splits(project: Project, index: DatasetIndex) -> int:
    """Give a split to usable, labelled images that have none yet (labelled in the app); returns how many.

    The split is drawn as `Project.index()` would draw it (so images labelled in the app spread over
    training, validation and test in the project's ratios), over the classes concerned only; splits
    already drawn never move, so labelling a few images does not reshuffle the rest.
    """
    from cnnstudio.core.dataset import DatasetIndex, assign_splits

    missing = [s for s in index.samples if s.problem is None and s.label is not None and s.split is None]
    if not missing:
        return 0
    classes = {s.label for s in missing}
    members = [s for s in index.samples if s.problem is None and s.label in classes]
    before = [(s, s.split) for s in members]
    assign_splits(
        DatasetIndex(source=index.source, layout=index.layout, samples=members),
        ratios=project.split_ratios,
        seed=project.split_seed,
    )
    for sample, split in before:
        if split is not None:
            sample.split = split
    _store_splits(project, missing)
    return len(missing)


def _store_splits(project: Project, samples: Iterable[Sample]) -> None:
    for sample in samples:
        if sample.given_split or sample.problem is not None or sample.label is None or sample.split is None:
            continue
        project.split_assignments[project.key(sample.path)] = sample.split
