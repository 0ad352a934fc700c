"""Ensembles of two runs on a fixed tiny set: at least as good as the worse run, evaluated like a run,
saved as a bundle and as one ONNX graph that both verify, and refused in words when runs do not fit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.ensemble import (
    ensemble_arrays,
    evaluate_ensemble,
    export_ensemble,
    is_ensemble_bundle,
    load_ensemble,
    member_probabilities,
)
from cnnstudio.core.ensemble.model import EnsembleModule, input_adapter
from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import predict_probabilities
from cnnstudio.core.export import Predictor, read_onnx_metadata
from cnnstudio.core.export import load_model as single_model
from cnnstudio.core.export.verify import onnx_probabilities
from cnnstudio.core.models import load_model
from cnnstudio.core.pipeline import train_project
from cnnstudio.core.project import Project
from cnnstudio.core.spec import Input, Preprocessing, build_model, template
from cnnstudio.core.train import AugmentConfig, TrainConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project on a fixed tiny set with two differently trained runs of the tiny design."""
    root = tmp_path_factory.mktemp("ensemble")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=14, size=32, seed=3)
    project = Project.create(root / "proj", data)
    runs = []
    for seed, lr in ((0, 0.01), (1, 0.003)):
        config = TrainConfig(epochs=2, batch_size=8, lr=lr, seed=seed, augment=AugmentConfig.none())
        runs.append(train_project(project, template("tiny"), config, label=f"m{seed}").run_dir)
    return project, runs


def test_an_ensemble_scores_at_least_as_well_as_the_worse_run(trained):
    project, runs = trained
    ensemble = load_ensemble(project, [r.name for r in runs])
    assert ensemble.weights == [0.5, 0.5] and ensemble.names == [r.name for r in runs]
    arrays = ensemble_arrays(project, ensemble)
    for split in ("val", "test"):
        evaluation = evaluate_ensemble(project, ensemble, split, arrays)
        report = evaluation.report
        members = list(evaluation.members.values())
        assert report.accuracy >= min(m.accuracy for m in members)
        assert report.macro["f1"] >= min(m.macro["f1"] for m in members) - 1e-9
        assert report.confusion.shape == (3, 3) and report.confusion.sum() == report.num_samples
        expected = (members[0].probs + members[1].probs) / 2
        np.testing.assert_allclose(report.probs, expected, atol=1e-6)
        summary = evaluation.to_dict()
        assert summary["split"] == split and set(summary["members"]) == {r.name for r in runs}
    # One module (what exports hold) gives the same probabilities as averaging the members.
    X = arrays[ensemble.members[0].decode_key]["val"].X
    module_probs = predict_probabilities(ensemble.module(), X, ensemble.preprocessing)
    averaged = sum(
        w * member_probabilities(m, arrays[m.decode_key]["val"])
        for m, w in zip(ensemble.members, ensemble.weights, strict=True)
    )
    np.testing.assert_allclose(module_probs, averaged, atol=1e-6)


def test_weighted_by_validation_accuracy(trained):
    project, runs = trained
    ensemble = load_ensemble(project, runs, weighted=True)
    scores = [m.val_accuracy for m in ensemble.members]
    assert all(0 <= s <= 1 for s in scores) and ensemble.weighting == "validation accuracy"
    assert sum(ensemble.weights) == pytest.approx(1.0)
    assert ensemble.weights[0] / ensemble.weights[1] == pytest.approx(scores[0] / scores[1])


def test_greedy_selection_is_never_worse_than_the_best_member_on_made_up_probabilities():
    from cnnstudio.core.ensemble.selection import greedy_counts, greedy_weights, score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    good = np.full((200, 3), 0.2)
    good[np.arange(200), y] = 0.6  # right every time, modestly sure
    good[:40] = np.roll(good[:40], 1, axis=1)  # ... but wrong on the first 40: accuracy 0.8
    bad = np.full((200, 3), 0.01)
    bad[np.arange(200), (y + 1) % 3] = 0.98  # always wrong, very sure
    equal = (good + bad) / 2
    assert score(equal, y)[0] < score(good, y)[0]  # what an equal-weight average does
    assert greedy_counts([good, bad], y) == [1, 0] and greedy_weights([bad, good], y) == [0.0, 1.0]

    # Two members sure when right and unsure when wrong, wrong on different pictures: together
    # better than either (the selection takes both).
    def member(wrong: slice) -> np.ndarray:
        p = np.full((200, 3), 0.1)
        p[np.arange(200), y] = 0.8
        p[wrong] = 0.25
        p[np.arange(200)[wrong], y[wrong]] = 0.35
        p[np.arange(200)[wrong], (y[wrong] + 1) % 3] = 0.4
        return p

    a, b = member(slice(0, 40)), member(slice(100, 140))
    weights = greedy_weights([a, b], y)
    mixed = weights[0] * a + weights[1] * b
    assert min(weights) > 0 and score(mixed, y)[0] > max(score(a, y)[0], score(b, y)[0])


def test_a_deliberately_bad_member_does_not_make_the_greedy_ensemble_worse(trained):
    from cnnstudio.core.ensemble import weigh_greedy, weigh_members

    project, runs = trained
    # A run that learned nothing useful: a very small learning rate, one epoch.
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-6, seed=5, augment=AugmentConfig.none())
    bad = train_project(project, template("tiny"), config, label="bad").run_dir
    try:
        ensemble = load_ensemble(project, [*runs, bad])
        arrays = ensemble_arrays(project, ensemble)
        weigh_greedy(ensemble, arrays)
        assert ensemble.weighting == "greedy selection" and sum(ensemble.weights) == pytest.approx(1.0)
        chosen = evaluate_ensemble(project, ensemble, "val", arrays)
        best = max(r.accuracy for r in chosen.members.values())
        assert chosen.report.accuracy >= best
        assert [m.val_accuracy for m in ensemble.members] == [
            pytest.approx(r.accuracy) for r in chosen.members.values()
        ]
        weigh_members(ensemble, arrays, "equal")
        assert ensemble.weights == [pytest.approx(1 / 3)] * 3 and ensemble.weighting == "equal"
        with pytest.raises(UserError, match="not a way to weigh"):
            weigh_members(ensemble, arrays, "random")
    finally:
        shutil.rmtree(bad)


def test_the_bundle_and_the_onnx_graph_verify_and_predict(trained, tmp_path):
    project, runs = trained
    ensemble = load_ensemble(project, runs)
    arrays = ensemble_arrays(project, ensemble)
    evaluations = {"test": evaluate_ensemble(project, ensemble, "test", arrays)}
    bundle = export_ensemble(
        project, ensemble, tmp_path / "out" / "digits.cnnmodel", arrays=arrays, evaluations=evaluations
    )
    assert bundle.verification.ok and bundle.format == "bundle", bundle.message
    assert bundle.path.exists() and is_ensemble_bundle(bundle.path)
    assert not list((tmp_path / "out").glob(".*partial*"))
    loaded = load_model(bundle.path)
    assert loaded.class_names == ensemble.class_names and "ensemble of 2" in loaded.source
    assert (
        loaded.card["kind"] == "ensemble"
        and loaded.card["evaluation"]["test"]["accuracy"] == evaluations["test"].report.accuracy
    )
    X = arrays[ensemble.members[0].decode_key]["test"].X
    np.testing.assert_allclose(
        predict_probabilities(loaded.model, X, loaded.preprocessing),
        evaluations["test"].report.probs,
        atol=1e-5,
    )
    prediction = Predictor(loaded).predict([project.source / "class_1"])
    assert len(prediction.predictions) == 14 and not prediction.problems
    # core.export opens single models only (it does not import core.ensemble) and says so in words.
    with pytest.raises(UserError, match="ensemble of models"):
        single_model(bundle.path)

    onnx = export_ensemble(project, ensemble, tmp_path / "out" / "digits.onnx", arrays=arrays)
    assert onnx.verification.ok and onnx.format == "onnx", onnx.message
    assert "cnnstudio.preprocessing" in read_onnx_metadata(onnx.path)
    np.testing.assert_allclose(onnx_probabilities(onnx.path, X), evaluations["test"].report.probs, atol=1e-4)
    # An ordinary single-model bundle is not taken for an ensemble.
    assert not is_ensemble_bundle(onnx.path)


def _copy_run(run, name, edit):
    copy = run.parent / name
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_runs_that_do_not_fit_together_are_refused_in_words(trained):
    project, runs = trained
    with pytest.raises(UserError, match="at least two runs"):
        load_ensemble(project, [runs[0].name])
    with pytest.raises(UserError, match="named twice"):
        load_ensemble(project, [runs[0].name, runs[0]])
    with pytest.raises(UserError, match="no run called 'nope'"):
        load_ensemble(project, [runs[0].name, "nope"])
    other = _copy_run(runs[1], "zz-other-classes", lambda c: c.update(class_names=["a", "b", "c"]))
    try:
        with pytest.raises(UserError, match="different classes"):
            load_ensemble(project, [runs[0], other])
    finally:
        shutil.rmtree(other)


def test_members_with_another_picture_size_evaluate_but_do_not_export(trained, tmp_path):
    project, runs = trained
    spec = template("tiny")
    spec = spec.replace_layer(0, Input(24, 24, 3))
    small = train_project(
        project, spec, TrainConfig(epochs=1, batch_size=8, augment=AugmentConfig.none()), label="small"
    ).run_dir
    try:
        ensemble = load_ensemble(project, [runs[0], small])
        arrays = ensemble_arrays(project, ensemble)
        assert len(arrays) == 2  # each member decodes the pictures its own way
        evaluation = evaluate_ensemble(project, ensemble, "val", arrays)
        assert evaluation.report.num_samples == len(arrays[ensemble.members[0].decode_key]["val"].y)
        with pytest.raises(UserError, match="read pictures differently.*32x32 colour.*24x24 colour"):
            export_ensemble(project, ensemble, tmp_path / "e.onnx", arrays=arrays)
    finally:
        shutil.rmtree(small)


def test_members_that_normalise_differently_get_their_own_input_in_one_graph():
    torch.manual_seed(0)
    first = Preprocessing(32, 32, "RGB", "stretch", 1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    imagenet = Preprocessing(32, 32, "RGB", "stretch", 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert input_adapter(first, first) is None
    models = [build_model(template("tiny"), 3).eval() for _ in range(2)]
    module = EnsembleModule(models, [1.0, 3.0], [None, input_adapter(first, imagenet)]).eval()
    X = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        out = torch.softmax(module(first.normalize(X)), dim=1)
        expected = 0.25 * torch.softmax(models[0](first.normalize(X)), 1) + 0.75 * torch.softmax(
            models[1](imagenet.normalize(X)), 1
        )
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert set(module.state_dict()) == {k for k in module.state_dict() if k.startswith("members.")}
