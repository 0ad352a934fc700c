"""`cnnstudio ensemble` on two tiny runs: the evaluation table, --json, --out verified, user errors."""

from __future__ import annotations

import json

import pytest

from cnnstudio import cli


@pytest.fixture
def run_cli(capsys):
    def run(*argv):
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


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
    code, out, err = run_cli("ensemble", str(project), a, b, "--out", str(tmp_path / "e.cnnmodel"))
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
    test = result["evaluation"]["test"]
    assert test["ensemble"]["accuracy"] >= min(m["accuracy"] for m in test["members"].values())
    assert len(test["ensemble"]["confusion_matrix"]) == 3


def test_ensemble_user_errors(run_cli, two_runs, tmp_path):
    project, (a, _) = two_runs
    code, _, err = run_cli("ensemble", str(project), a)
    assert code == 2 and "at least two runs" in err
    code, _, err = run_cli("ensemble", str(project), a, "missing-run")
    assert code == 2 and "no run called 'missing-run'" in err
    code, _, err = run_cli("ensemble", str(tmp_path), a, a)
    assert code == 2 and "not a CNN Studio project" in err
