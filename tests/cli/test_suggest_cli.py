"""`cnnstudio suggest`: JSON as the issue gives it, --accept-above records accepted suggestions."""

from __future__ import annotations

import json

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.cli import main
from cnnstudio.core.project import Project


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(tmp_path, capsys):
    data = write_tiny_image_folder(tmp_path / "data", classes=2, per_class=10, size=24)
    folder = tmp_path / "project"
    code, _, err = run_cli(
        capsys, "train", data, "--project", folder, "--template", "tiny", "--epochs", "4", "--batch-size", "8"
    )
    assert code == 0, err
    p = Project.open(folder)
    for s in p.index().samples:
        if s.path.endswith(("img_008.png", "img_009.jpg")):
            p.labels[p.key(s.path)] = None
    p.save()
    return folder


def test_json_accept_above_and_limit(project, capsys):
    code, out, err = run_cli(capsys, "suggest", project, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"run", "suggestions", "accepted"}
    assert (project / "runs" / result["run"] / "best.safetensors").exists()
    assert result["accepted"] == 0 and len(result["suggestions"]) == 4
    for s in result["suggestions"]:
        assert set(s) == {"path", "label", "confidence", "unknown"}
        assert s["label"] in {"class_0", "class_1"} and isinstance(s["unknown"], bool)
    known = sum(not s["unknown"] for s in result["suggestions"])
    code, out, err = run_cli(capsys, "suggest", project, "--json", "--limit", "1", "--accept-above", "0")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["suggestions"]) == 1 and result["accepted"] == known  # unknown ones are never accepted
    on_disk = json.loads((project / "project.json").read_text())
    assert len(on_disk["accepted_suggestions"]) == known
    assert sum(v is not None for v in on_disk["labels"].values()) == known
    # Once every picture has a label: a plain message, exit 2.
    p = Project.open(project)
    p.labels = {k: v or "class_0" for k, v in p.labels.items()}
    p.save()
    code, out, err = run_cli(capsys, "suggest", project)
    assert code == 2 and "nothing to suggest" in err


def test_text_and_errors(project, tmp_path, capsys):
    code, out, err = run_cli(capsys, "suggest", project, "--accept-above", "100%")
    assert code == 0, err
    assert "4 unlabelled pictures" in out and "Accepted" in out
    code, out, err = run_cli(capsys, "suggest", project, "--run", "nope")
    assert code == 2 and "no run called 'nope'" in err
    code, out, err = run_cli(capsys, "suggest", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_label_errors_json(project, capsys):
    # One training picture of class_0 gets the wrong label (the run was trained before: it stays usable).
    p = Project.open(project)
    index = p.index()
    flipped = next(s.path for s in index.samples if s.split == "train" and s.label == "class_0")
    p.labels[p.key(flipped)] = "class_1"
    p.save()
    labels = {s.path: s.label for s in p.index().samples if s.split == "train" and s.label is not None}
    code, out, err = run_cli(
        capsys, "suggest", project, "--label-errors", "--folds", "2", "--epochs", "40", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["folds"] == 2 and report["pictures"] == len(labels)
    assert (project / "runs" / report["run"] / "best.safetensors").exists()
    assert report["issues"], "the planted wrong label was not found"
    for issue in report["issues"]:
        assert issue["label"] == labels[issue["path"]] and issue["suggested"] != issue["label"]
        assert issue["suggested"] in {"class_0", "class_1"}
        assert 0 <= issue["self_confidence"] < issue["suggested_confidence"] <= 1
    found = {i["path"]: i for i in report["issues"]}
    assert flipped in found and found[flipped]["suggested"] == "class_0", report["issues"]
