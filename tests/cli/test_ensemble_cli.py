"""`cnnstudio ensemble` on two tiny runs: the evaluation table, --json, --out verified, user errors."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture
def two_runs(run_cli, tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=3, per_class=10, size=32)
    project = tmp_path / "proj"
    names = []
    for lr in ("0.01", "0.003"):
        code, out, err = run_cli(
            "train", str(data), "--project", str(project), "--template", "tiny", "--epochs", "1",
            "--batch-size", "8", "--lr", lr, "--augment", "none", "--json",
        )  # fmt: skip
        assert code == 0, err
        names.append(json.loads(out)["run"])
    return project, names


def test_ensemble_table_json_and_verified_exports(run_cli, two_runs, tmp_path):
    project, (a, b) = two_runs
    code, out, err = run_cli(
        "ensemble", str(project), a, b, "--weights", "equal", "--out", str(tmp_path / "e.cnnmodel")
    )
    assert code == 0, err
    assert "Ensemble of 2 runs (equal weights)" in out and "== Validation pictures" in out
    assert "Bundle verified on" in out and (tmp_path / "e.cnnmodel").exists()

    code, out, err = run_cli(
        "ensemble", str(project), a, b, "--weighted", "--out", str(tmp_path / "e.onnx"), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["weighting"] == "validation accuracy"
    assert result["export"]["verification"]["ok"] and result["export"]["format"] == "onnx"
    # The weights are the members' validation accuracies, normalised.
    members = result["members"]
    total = sum(m["val_accuracy"] for m in members)
    for m in members:
        assert m["weight"] == pytest.approx(m["val_accuracy"] / total)
    # The reported test numbers are those of the weighted average of the two runs' own predictions,
    # recomputed here from the run folders.
    test = result["evaluation"]["test"]
    probs, labels = _member_test_probabilities(project, [m["run"] for m in members])
    averaged = sum(m["weight"] * p for m, p in zip(members, probs, strict=True))
    predicted = averaged.argmax(1)
    assert test["ensemble"]["accuracy"] == pytest.approx(float(np.mean(predicted == labels)))
    confusion = np.zeros((3, 3), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    assert test["ensemble"]["confusion_matrix"] == confusion.tolist()
    for m, p in zip(members, probs, strict=True):
        assert test["members"][m["run"]]["accuracy"] == pytest.approx(float(np.mean(p.argmax(1) == labels)))


def test_the_default_weights_are_chosen_greedily_on_validation_and_shown(run_cli, two_runs):
    project, (a, b) = two_runs
    code, out, err = run_cli("ensemble", str(project), a, b, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["weighting"] == "greedy selection"
    weights = [m["weight"] for m in result["members"]]
    assert sum(weights) == pytest.approx(1.0) and all(0 <= w <= 1 for w in weights)
    val = result["evaluation"]["val"]
    best = max(m["accuracy"] for m in val["members"].values())
    assert val["ensemble"]["accuracy"] >= best - 1e-9  # never worse than its best run on validation
    code, out, err = run_cli("ensemble", str(project), a, b)
    assert code == 0, err
    assert "weights chosen on the validation pictures by greedy selection" in out
    for m in result["members"]:
        assert f"{m['run']}  weight {m['weight']:.3f}" in out
    code, _, err = run_cli("ensemble", str(project), a, b, "--weighted", "--weights", "equal")
    assert code == 2 and "--weighted means --weights accuracy" in err


def _member_test_probabilities(project_dir, runs):
    """Each run's probabilities on the project's test pictures, and their labels (core, not the CLI)."""
    from cnnstudio.core.ensemble import ensemble_arrays, load_ensemble, member_probabilities
    from cnnstudio.core.project import Project

    project = Project.open(project_dir)
    ensemble = load_ensemble(project, runs)
    arrays = ensemble_arrays(project, ensemble)
    test = [arrays[m.decode_key]["test"] for m in ensemble.members]
    assert all(np.array_equal(t.y, test[0].y) for t in test)
    return [member_probabilities(m, t) for m, t in zip(ensemble.members, test, strict=True)], test[0].y


def test_ensemble_user_errors(run_cli, two_runs, tmp_path):
    project, (a, _) = two_runs
    code, _, err = run_cli("ensemble", str(project), a)
    assert code == 2 and "at least two runs" in err
    code, _, err = run_cli("ensemble", str(project), a, "missing-run")
    assert code == 2 and "no run called 'missing-run'" in err
    code, _, err = run_cli("ensemble", str(tmp_path), a, a)
    assert code == 2 and "not a CNN Studio project" in err
