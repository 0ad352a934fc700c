"""`cnnstudio suggest`: JSON as the issue gives it, --accept-above records accepted suggestions."""

from __future__ import annotations

import json

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.project import Project


@pytest.fixture
def project(tmp_path, run_cli):
    data = write_tiny_image_folder(tmp_path / "data", classes=2, per_class=10, size=24)
    folder = tmp_path / "project"
    code, _, err = run_cli(
        "train", data, "--project", folder, "--template", "tiny", "--epochs", "4", "--batch-size", "8"
    )
    assert code == 0, err
    p = Project.open(folder)
    for s in p.index().samples:
        if s.path.endswith(("img_008.png", "img_009.jpg")):
            p.labels[p.key(s.path)] = None
    p.save()
    return folder


def test_json_accept_above_and_limit(project, run_cli):
    code, out, err = run_cli("suggest", project, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"run", "suggestions", "accepted"}
    assert (project / "runs" / result["run"] / "best.safetensors").exists()
    assert result["accepted"] == 0 and len(result["suggestions"]) == 4
    for s in result["suggestions"]:
        assert set(s) == {"path", "label", "confidence", "unknown"}
        assert s["label"] in {"class_0", "class_1"} and isinstance(s["unknown"], bool)
    known = sum(not s["unknown"] for s in result["suggestions"])
    code, out, err = run_cli("suggest", project, "--json", "--limit", "1", "--accept-above", "0")
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
    code, out, err = run_cli("suggest", project)
    assert code == 2 and "nothing to suggest" in err


def test_text_and_errors(project, tmp_path, run_cli):
    code, out, err = run_cli("suggest", project, "--accept-above", "100%")
    assert code == 0, err
    assert "4 unlabelled pictures" in out and "Accepted" in out
    code, out, err = run_cli("suggest", project, "--run", "nope")
    assert code == 2 and "no run called 'nope'" in err
    code, out, err = run_cli("suggest", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_label_errors_json(project, run_cli):
    # One training picture of class_0 gets the wrong label (the run was trained before: it stays usable).
    p = Project.open(project)
    index = p.index()
    flipped = next(s.path for s in index.samples if s.split == "train" and s.label == "class_0")
    p.labels[p.key(flipped)] = "class_1"
    p.save()
    labels = {s.path: s.label for s in p.index().samples if s.split == "train" and s.label is not None}
    code, out, err = run_cli("suggest", project, "--label-errors", "--folds", "2", "--epochs", "40", "--json")
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


def test_accept_above_never_takes_a_picture_the_run_flags_unknown(tmp_path, run_cli):
    """A real flagged picture: random pixels among stripes, flagged by the run's fitted threshold."""
    import numpy as np
    from PIL import Image

    data = write_tiny_image_folder(tmp_path / "data", classes=3, per_class=12, size=24)
    noise = data / "class_0" / "noise.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(noise)
    folder = tmp_path / "project"
    p = Project.create(folder, data)
    p.labels[p.key(noise.as_posix())] = None  # unlabelled from the start: the run never sees it
    p.save()
    code, _, err = run_cli(
        "train", folder, "--template", "tiny", "--epochs", "6", "--batch-size", "8", "--lr", "0.01"
    )
    assert code == 0, err
    p = Project.open(folder)
    for s in p.index().samples:
        if s.path.endswith(("img_010.png", "img_011.jpg")):
            p.labels[p.key(s.path)] = None
    p.save()
    code, out, err = run_cli("suggest", folder, "--json", "--accept-above", "0")
    assert code == 0, err
    result = json.loads(out)
    by_path = {s["path"]: s for s in result["suggestions"]}
    assert by_path[noise.as_posix()]["unknown"]  # the run's own threshold flags it (not a threshold of 0)
    known = [s for s in result["suggestions"] if not s["unknown"]]
    assert len(known) >= 4 and result["accepted"] == len(known)
    on_disk = json.loads((folder / "project.json").read_text())
    assert p.key(noise.as_posix()) not in on_disk["accepted_suggestions"]
    assert on_disk["labels"][p.key(noise.as_posix())] is None
    assert {m["source"] for m in on_disk["accepted_suggestions"].values()} == {"bulk"}


def test_suggestions_in_validation_is_a_project_setting(project, run_cli):
    code, out, err = run_cli("suggest", project, "--suggestions-in-validation", "apart")
    assert code == 0, err
    assert "reported apart" in out and Project.open(project).suggestions_apart
    code, out, err = run_cli("suggest", project, "--suggestions-in-validation", "never")
    assert code == 0 and "only train" in out and not Project.open(project).suggestions_apart
