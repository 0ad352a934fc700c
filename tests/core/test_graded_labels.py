"""Only people's labels grade a model: suggestions accepted in bulk train, never validate or test.

A real project folder written with Pillow, a real run trained on it, real suggestions accepted.
"""

from __future__ import annotations

import json

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.dataset.split import BULK, CONFIRMED, is_bulk_mark, suggested_paths
from cnnstudio.core.labels.edits import LabelEditor
from cnnstudio.core.labels.resplit import fill_missing_splits, resplit
from cnnstudio.core.pipeline import evaluate_run, train_project
from cnnstudio.core.project import Project
from cnnstudio.core.runs import load_run
from cnnstudio.core.spec import template
from cnnstudio.core.suggest import accept_suggestions, accepted_paths, suggest
from cnnstudio.core.train import AugmentConfig, TrainConfig

CONFIG = TrainConfig(epochs=2, batch_size=8, lr=0.01, augment=AugmentConfig.none())


def people_splits(project: Project) -> dict[str, str]:
    """Split of every picture labelled by a person (not a suggestion accepted in bulk)."""
    index = project.index()
    suggested = suggested_paths(index.samples, project.accepted, project.key)
    return {s.path: s.split for s in index.samples if s.label is not None and s.path not in suggested}


@pytest.fixture
def partial(tmp_path):
    """3 classes of 20; 8 of each lose their label after the first split, so most of them have a
    stored validation or test place; a run trained on the rest."""
    data = write_tiny_image_folder(tmp_path / "data", classes=3, per_class=20, size=24)
    project = Project.create(tmp_path / "project", data)
    index = project.index()
    stored = {s.path: s.split for s in index.samples}
    unlabelled = []
    for c in range(3):
        members = sorted(s.path for s in index.samples if s.label == f"class_{c}")
        for path in members[-8:]:
            project.labels[project.key(path)] = None
            unlabelled.append(path)
    project.save()
    project = Project.open(project.folder)
    before = people_splits(project)
    run = train_project(project, template("tiny"), CONFIG, label="first").run_dir
    return project, run, unlabelled, stored, before


def test_bulk_accepted_suggestions_train_and_the_graded_pictures_stay_the_same(partial):
    project, run, unlabelled, stored, before = partial
    # Most of the pictures to be accepted once had a validation or test place: the rule must override it.
    assert sum(stored[p] != "train" for p in unlabelled) >= 3
    first_val = evaluate_run(project, run, split="val")
    assert first_val.graded == {
        "pictures": first_val.num_samples,
        "by_people": True,
        "accepted_suggestions": 0,
        "apart": None,
    }

    index = project.index()
    editor = LabelEditor(project, index)
    result = suggest(project, run.name, index=index)
    edit = accept_suggestions(editor, result.suggestions, result.run)  # every one, in bulk
    editor.apply(edit)
    accepted = set(edit.paths)
    assert accepted and all(project.accepted[project.key(p)]["source"] == BULK for p in accepted)

    reopened = Project.open(project.folder)
    index = reopened.index()
    split_of = {s.path: s.split for s in index.samples}
    assert {split_of[p] for p in accepted} == {"train"}
    assert set(accepted_paths(reopened, index, bulk_only=True)) == accepted
    # People's pictures did not move, so the numbers before and after are comparable.
    assert people_splits(reopened) == before
    # The stored split of people's pictures is untouched; the suggestions' is derived, never stored.
    on_disk = json.loads((project.folder / "project.json").read_text())["split"]["assignments"]
    assert all(on_disk[reopened.key(p)] == stored[p] for p in accepted)

    tuned = train_project(reopened, template("tiny"), CONFIG, label="tuned", init_weights=run)
    info = json.loads((tuned.run_dir / "config.json").read_text())["run_info"]["split"]
    assert info["accepted_suggestions"] == {"train": len(accepted), "val": 0, "test": 0}
    report = tuned.reports["val"]
    assert report.graded["by_people"] and report.graded["accepted_suggestions"] == 0
    assert report.num_samples == first_val.num_samples and set(report.paths) == set(first_val.paths)
    assert not set(report.paths) & accepted and not set(tuned.reports["test"].paths) & accepted
    assert "labelled by people" in report.graded_words()
    record = load_run(tuned.run_dir)
    assert record.graded == first_val.num_samples and record.graded_by_people
    assert record.suggestions_in_training == len(accepted)
    n = first_val.num_samples
    assert record.graded_text.startswith(f"Graded on {n} validation pictures labelled by people.")
    assert f"{len(accepted)} accepted suggestions trained it; none graded it." in record.graded_text

    # A person who relabels an accepted picture makes it a person's label: it takes its stored place back.
    editor = LabelEditor(reopened, index)
    back = next(p for p in accepted if stored[p] != "train")
    other = next(c for c in editor.classes() if c != reopened.labels[reopened.key(back)])
    editor.apply(editor.assign([back], other))
    assert reopened.key(back) not in reopened.accepted
    assert {s.path: s.split for s in Project.open(project.folder).index().samples}[back] == stored[back]


def test_suggestions_confirmed_one_by_one_are_peoples_labels(partial):
    project, run, unlabelled, stored, _before = partial
    index = project.index()
    editor = LabelEditor(project, index)
    result = suggest(project, run.name, index=index)
    one = next(s for s in result.suggestions if stored[s.path] != "train")
    editor.apply(accept_suggestions(editor, [one], result.run, source=CONFIRMED))
    mark = project.accepted[project.key(one.path)]
    assert mark["source"] == CONFIRMED and not is_bulk_mark(mark)
    assert is_bulk_mark({"label": "a", "run": "r", "confidence": 0.9})  # a mark from before sources: bulk
    index = Project.open(project.folder).index()
    assert {s.path: s.split for s in index.samples}[one.path] == stored[one.path]
    assert suggested_paths(index.samples, project.accepted, project.key) == frozenset()
    with pytest.raises(ValueError):
        accept_suggestions(editor, [one], result.run, source="whatever")


def test_labelling_in_the_app_and_resplit_keep_suggestions_in_training(partial):
    project, run, unlabelled, _stored, before = partial
    index = project.index()
    editor = LabelEditor(project, index)
    result = suggest(project, run.name, index=index)
    bulk = result.suggestions[: len(result.suggestions) // 2]
    editor.apply(accept_suggestions(editor, bulk, result.run), save=False)
    # The GUI's session index after the edit: fill_missing_splits places them as Project.index() would.
    assert fill_missing_splits(project, index) >= 1
    split_of = {s.path: s.split for s in index.samples}
    assert {split_of[s.path] for s in bulk} == {"train"}
    assert {p: split_of[p] for p in before} == before
    assert fill_missing_splits(project, index) == 0  # nothing left to place
    # A new seeded split keeps them in training too.
    resplit(project, index, seed=7)
    assert {s.split for s in index.samples if s.path in {b.path for b in bulk}} == {"train"}
    assert not {project.key(b.path) for b in bulk} & set(project.split_assignments)


def test_a_project_may_count_suggestions_apart_in_validation(partial):
    project, run, unlabelled, _stored, before = partial
    index = project.index()
    editor = LabelEditor(project, index)
    result = suggest(project, run.name, index=index)
    editor.apply(accept_suggestions(editor, result.suggestions, result.run))
    project.suggestions_apart = True
    project.save()
    reopened = Project.open(project.folder)
    assert reopened.suggestions_apart
    index = reopened.index()
    accepted = {s.path for s in result.suggestions}
    apart = {s.path for s in index.samples if s.path in accepted and s.split == "val"}
    assert apart and {s.split for s in index.samples if s.path in accepted} <= {"train", "val"}
    assert people_splits(reopened) == before
    splits, _names = reopened.arrays(index, 24, 24, 3, "stretch")
    assert set(splits["val_apart"].paths) == apart and not set(splits["val"].paths) & accepted
    report = evaluate_run(reopened, run, split="val")
    assert report.graded["by_people"] and report.graded["apart"]["pictures"] == len(apart)
    assert 0.0 <= report.graded["apart"]["accuracy"] <= 1.0
    assert "counted apart" in report.graded_words()
    # Off again (the default): they train.
    reopened.suggestions_apart = False
    assert {s.split for s in reopened.index().samples if s.path in accepted} == {"train"}
