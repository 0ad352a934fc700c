"""Model-assisted labelling: a real tiny run suggests labels for real unlabelled pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from image_fixtures import write_tiny_image_folder
from PIL import Image

from cnnstudio.core.errors import UserError
from cnnstudio.core.labels.edits import LabelEditor
from cnnstudio.core.pipeline import train_project
from cnnstudio.core.project import Project
from cnnstudio.core.runs import best_finished_run
from cnnstudio.core.spec import template
from cnnstudio.core.suggest import (
    accept_suggestions,
    accepted_paths,
    order_useful_first,
    out_of_sample_probabilities,
    suggest,
    training_label_errors,
)
from cnnstudio.core.suggest.label_errors import stratified_folds
from cnnstudio.core.train import AugmentConfig, TrainConfig


def make_project(root, per_class=12, unlabel=4, noise=False):
    """3 easy classes; the last `unlabel` pictures of each class lose their label in project.json.

    With `noise`, one more unlabelled picture of random pixels (nothing like the stripes of the
    classes) sits in class_0's folder: the one the run's unknown score must flag."""
    data = write_tiny_image_folder(root / "data", classes=3, per_class=per_class, size=24)
    if noise:
        pixels = np.random.default_rng(5).integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(data / "class_0" / "noise.png")
    project = Project.create(root / "project", data)
    index = project.index()
    by_class: dict[str, list[str]] = {}
    for s in index.samples:
        if not s.path.endswith("noise.png"):
            by_class.setdefault(s.label, []).append(s.path)
        else:
            project.labels[project.key(s.path)] = None
    truth = {}
    for label, paths in by_class.items():
        for path in sorted(paths)[-unlabel:]:
            project.labels[project.key(path)] = None
            truth[path] = label
    project.save()
    return Project.open(project.folder), truth


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run on the labelled pictures; `truth` holds the unlabelled ones, `noise` the picture of noise."""
    root = tmp_path_factory.mktemp("suggest")
    project, truth = make_project(root, noise=True)
    config = TrainConfig(epochs=6, batch_size=8, lr=0.01, augment=AugmentConfig.none())
    result = train_project(project, template("tiny"), config, label="first")
    noise = str((project.source / "class_0" / "noise.png").as_posix())
    return project.folder, truth, result.run_dir, noise


def test_order_useful_first_is_margin_round_robin():
    probs = np.array(
        [
            [0.90, 0.10, 0.00],  # class 0, margin 0.8
            [0.55, 0.45, 0.00],  # class 0, margin 0.1
            [0.20, 0.70, 0.10],  # class 1, margin 0.5
            [0.05, 0.45, 0.50],  # class 2, margin 0.05
            [0.00, 0.98, 0.02],  # class 1, margin 0.96
        ]
    )
    # Groups by predicted class, each by margin; the group with the smallest margin leads each round.
    assert order_useful_first(probs) == [3, 1, 2, 0, 4]
    unknown = np.array([False, False, False, True, False])
    assert order_useful_first(probs, unknown) == [1, 2, 0, 4, 3]  # unknown pictures last


def test_suggestions_for_every_unlabelled_picture(trained):
    folder, truth, run_dir, noise = trained
    project = Project.open(folder)
    result = suggest(project)
    assert result.run == run_dir.name
    assert {s.path for s in result.suggestions} == set(truth) | {noise}
    right = sum(s.label == truth[s.path] for s in result.suggestions if s.path in truth)
    assert right >= 0.8 * len(truth)
    for s in result.suggestions:
        assert 0.0 <= s.confidence <= 1.0 and isinstance(s.unknown, bool)
    # The run's calibration (temperature, unknown score) is what the suggestions use.
    assert result.calibrated and (run_dir / "calibration.json").exists()
    flagged = [s for s in result.suggestions if s.unknown]
    # The picture of noise is flagged by the threshold fitted on the run's validation pictures (not by
    # a threshold of 0: most of the class pictures pass it), so this check always runs.
    assert noise in {s.path for s in flagged} and len(flagged) < len(result.suggestions) / 2
    # Unknown pictures come last and "accept all above" never takes them, at any confidence.
    assert result.suggestions[-len(flagged) :] == flagged
    assert not set(map(id, flagged)) & set(map(id, result.above(0.0)))
    margins = [s.margin for s in result.suggestions if not s.unknown]
    # The first round of the round-robin holds each predicted class's most doubtful picture.
    known = [s for s in result.suggestions if not s.unknown]
    first_round = {s.label for s in known[: len({x.label for x in known})]}
    assert len(first_round) == len({x.label for x in known})
    assert margins[0] == min(margins)


def test_a_run_without_calibration_gives_plain_softmax_and_no_unknown(trained, tmp_path):
    import shutil

    from cnnstudio.core.suggest import predict_for_run

    folder, truth, run_dir, _noise = trained
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    (copy / "calibration.json").unlink()
    pred = predict_for_run(copy, sorted(truth), Project.open(folder).cache_dir)
    assert not pred.calibrated and not pred.unknown.any()
    assert np.allclose(pred.probs.sum(axis=1), 1.0, atol=1e-5)


def test_accept_records_marks_and_undo_restores(trained):
    folder, truth, _run, _noise = trained
    project = Project.open(folder)
    index = project.index()
    editor = LabelEditor(project, index)
    result = suggest(project, index=index)
    threshold = sorted(s.confidence for s in result.suggestions)[len(result.suggestions) // 2]
    edit = accept_suggestions(editor, result.suggestions, result.run, above=threshold)
    expected = {s.path for s in result.above(threshold)}
    assert set(edit.paths) == expected and edit.accepted
    editor.apply(edit)
    on_disk = json.loads((folder / "project.json").read_text())
    assert len(on_disk["accepted_suggestions"]) == len(expected)
    reopened = Project.open(folder)
    assert set(accepted_paths(reopened, reopened.index())) == expected
    # A manual relabel of an accepted picture clears its mark; undoing the relabel restores it.
    path = sorted(expected)[0]
    other = next(c for c in editor.classes() if c != project.labels[project.key(path)])
    relabel = editor.assign([path], other)
    editor.apply(relabel)
    assert project.key(path) not in project.accepted
    editor.revert(relabel)
    assert project.key(path) in project.accepted
    editor.revert(edit)
    on_disk = json.loads((folder / "project.json").read_text())
    assert on_disk["accepted_suggestions"] == {}
    assert all(on_disk["labels"][project.key(p)] is None for p in expected)


def test_plain_errors(tmp_path, trained):
    project, _ = make_project(tmp_path / "a")
    with pytest.raises(UserError, match="no finished run"):
        suggest(project)
    folder, _truth, run_dir, _noise = trained
    project = Project.open(folder)
    # No unlabelled pictures.
    index = project.index()
    saved = dict(project.labels)
    for s in index.samples:
        if s.label is None:
            project.labels[project.key(s.path)] = "class_0"
    with pytest.raises(UserError, match="nothing to suggest"):
        suggest(project, index=project.index())
    # A run trained for other classes.
    project.labels = dict(saved)
    project.extra_classes = ["zebra"]
    with pytest.raises(UserError, match="other classes"):
        suggest(project, run_dir.name, index=project.index())
    with pytest.raises(UserError, match="no run called"):
        suggest(project, "nope")


def test_best_finished_run_prefers_the_better_monitored_value(tmp_path):
    project, _ = make_project(tmp_path)
    for name, value in (("a", 0.9), ("b", 0.5)):
        run = project.runs_dir / name
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}")
        (run / "best.safetensors").write_bytes(b"")
        state = {"status": "finished", "best": {"monitor": "val_accuracy", "value": value}}
        (run / "state.json").write_text(json.dumps(state))
    crashed = project.runs_dir / "c"
    crashed.mkdir()
    (crashed / "config.json").write_text("{}")
    (crashed / "best.safetensors").write_bytes(b"")
    (crashed / "state.json").write_text(json.dumps({"status": "crashed", "best": {"value": 1.0}}))
    assert best_finished_run(project).name == "a"


def test_folds_are_stratified():
    y = np.repeat(np.arange(3), 10)
    folds = stratified_folds(y, 5, seed=1)
    for k in range(5):
        assert np.bincount(y[folds == k], minlength=3).tolist() == [2, 2, 2]


def test_out_of_sample_probabilities_never_train_on_the_held_out_fold():
    y = np.repeat(np.arange(2), 6)
    X = np.arange(12).reshape(12, 1, 1, 1).astype(np.uint8)
    seen = []

    def fit(spec, config, names, prep, train, X_held):
        seen.append((set(train[0].ravel().tolist()), set(X_held.ravel().tolist())))
        out = np.zeros((len(X_held), 2), np.float32)
        out[:, 0] = 1
        return out

    probs = out_of_sample_probabilities(
        X, y, spec=None, config=None, class_names=["a", "b"], preprocessing=None, folds=3, fit=fit
    )
    assert probs.shape == (12, 2) and (probs[:, 0] == 1).all()
    assert all(not (tr & held) for tr, held in seen)
    assert set().union(*(held for _, held in seen)) == set(range(12))
    with pytest.raises(UserError, match="at least 7"):
        out_of_sample_probabilities(
            X, y, spec=None, config=None, class_names=["a", "b"], preprocessing=None, folds=7, fit=fit
        )


def test_training_label_errors_find_a_planted_flip(tmp_path):
    data = write_tiny_image_folder(tmp_path / "data", classes=2, per_class=16, size=24)
    project = Project.create(tmp_path / "project", data)
    index = project.index()
    train = [s for s in index.samples if s.split == "train" and s.label == "class_0"]
    flipped = train[0].path
    project.labels[project.key(flipped)] = "class_1"  # a wrong label on a training picture
    project.save()
    config = TrainConfig(epochs=6, batch_size=8, lr=0.01, augment=AugmentConfig.none())
    run = train_project(project, template("tiny"), config, label="r").run_dir
    report = training_label_errors(project, run.name, folds=3)
    assert report.folds == 3 and report.pictures > 10 and report.seconds > 0
    assert report.issues and report.issues[0]["path"] == flipped
    assert report.issues[0]["label"] == "class_1" and report.issues[0]["suggested"] == "class_0"


def test_retrain_proposal_after_enough_new_labels_and_the_fine_tune_runs(tmp_path):
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.suggest import retrain_proposal
    from cnnstudio.core.suggest.retrain import retrain_after

    assert retrain_after(24) == 10 and retrain_after(300) == 30 and retrain_after(5000) == 50
    project, truth = make_project(tmp_path, per_class=12, unlabel=4)
    config = TrainConfig(epochs=4, batch_size=8, lr=0.01, augment=AugmentConfig.none())
    run = train_project(project, template("tiny"), config, label="first").run_dir
    index = project.index()
    assert retrain_proposal(project, index) is None  # nothing new yet
    editor = LabelEditor(project, index)
    result = suggest(project, index=index)
    editor.apply(accept_suggestions(editor, result.suggestions, result.run))
    proposal = retrain_proposal(project, project.index())
    assert proposal is not None and proposal.run_dir == run and proposal.new_labels == len(truth)
    assert proposal.train["lr"] == pytest.approx(0.001) and proposal.train["epochs"] == 3
    assert proposal.advice().code == "retrain" and "12 pictures were labelled" in proposal.text
    # The proposal's settings really fine-tune the run: a new run starting from its weights.
    tuned = train_project(
        project,
        ModelSpec.from_dict(proposal.spec),
        TrainConfig.from_dict(proposal.train),
        init_weights=run,
        label="tuned",
    )
    saved = json.loads((tuned.run_dir / "config.json").read_text())
    assert saved["init_weights"] and saved["train"]["epochs"] == 3
    assert retrain_proposal(project, project.index()) is None  # the new run saw the new labels
