"""Calibration and "unknown" pictures through the CLI: train, evaluate --json, predict --json/--csv/--sort-into."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from image_fixtures import write_tiny_image_folder
from PIL import Image

from cnnstudio.cli import main


@pytest.fixture(scope="module")
def trained(train_cli_project):
    project, run, data = train_cli_project("calcli", per_class=20, epochs=3)
    root = project.parent
    odd = root / "odd"
    odd.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(odd / f"noise_{i}.png")
    Image.new("RGB", (30, 30), (0, 0, 0)).save(odd / "black.png")
    # Pictures of the same kind that neither training nor calibration saw.
    fresh = write_tiny_image_folder(root / "fresh", classes=3, per_class=20, size=24, seed=7)
    return SimpleNamespace(
        root=root, data=data, project=project, run=project / "runs" / run, odd=odd, fresh=fresh
    )


def test_training_leaves_a_calibration_in_the_run(trained):
    saved = json.loads((trained.run / "calibration.json").read_text(encoding="utf-8"))
    assert saved["fitted"] and saved["temperature"] > 0
    assert saved["unknown"]["method"] == "layers" and saved["unknown"]["threshold"] > 0
    arrays = trained.run / "trust.safetensors"  # the score's arrays, beside the weights
    assert arrays.stat().st_size < 2**20


def test_evaluate_json_has_calibration_and_flagged_pictures(trained, run_cli):
    code, out, err = run_cli("evaluate", trained.project, "--split", "val", "--json")
    assert code == 0, err
    data = json.loads(out)
    cal = data["calibration"]
    assert {"temperature", "ece_before", "ece_after", "bins"} <= set(cal)
    assert len(cal["bins"]) == 15 and sum(b["count"] for b in cal["bins"]) == data["images"]
    assert 0 <= cal["ece_after"] <= 1 and 0 <= cal["ece_before"] <= 1
    flagged = data["unknown"]["flagged"]
    threshold = data["unknown"]["threshold"]
    assert all(row["unknown_score"] > threshold for row in flagged)
    code, out, _ = run_cli("evaluate", trained.project, "--split", "val")
    assert "Calibration error (ECE, 15 bins)" in out and "unlike the training pictures" in out


def test_held_out_pictures_mostly_pass_and_other_pictures_are_flagged_at_the_runs_own_threshold(
    trained, run_cli
):
    """The threshold was set on the validation pictures; it must hold on pictures it never saw."""
    code, out, err = run_cli("evaluate", trained.project, "--folder", trained.fresh, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["images"] == 60
    assert len(data["unknown"]["flagged"]) <= 12  # at least 80% of new pictures of the same kind pass
    code, out, err = run_cli("predict", trained.project, trained.odd, "--json")
    assert code == 0, err
    predictions = json.loads(out)["predictions"]
    assert len(predictions) == 4 and all(p["unknown"] for p in predictions)


def test_predict_json_csv_and_sort_into_carry_unknown(trained, run_cli, tmp_path):
    table = tmp_path / "out.csv"
    sorted_dir = tmp_path / "sorted"
    code, out, err = run_cli(
        "predict",
        trained.project,
        trained.data / "class_0",
        trained.odd,
        "--json",
        "--csv",
        table,
        "--sort-into",
        sorted_dir,
    )
    assert code == 0, err
    data = json.loads(out)
    threshold = data["unknown_threshold"]
    assert data["calibrated"] is True and threshold > 0
    for item in data["predictions"]:
        assert item["unknown"] == (item["unknown_score"] > threshold)
        assert item["label"] != "unknown"  # the best class stays in "label"
    rows = list(csv.DictReader(table.read_text(encoding="utf-8-sig").splitlines()))
    assert {"unknown", "unknown_score"} <= set(rows[0])
    by_path = {r["path"]: r for r in rows}
    for item in data["predictions"]:
        assert by_path[item["path"]]["unknown"] == ("yes" if item["unknown"] else "no")
        assert float(by_path[item["path"]]["unknown_score"]) == pytest.approx(item["unknown_score"], rel=1e-5)
    moved = {Path(s["from"]).name: Path(s["to"]) for s in data["sorted"]}
    for item in data["predictions"]:
        folder = moved[Path(item["path"]).name].parent.name
        assert folder == ("unknown" if item["unknown"] else item["label"])


def test_a_strict_threshold_sends_every_picture_to_unknown(trained, run_cli, tmp_path):
    code, out, err = run_cli(
        "predict",
        trained.project,
        trained.odd,
        "--unknown-threshold",
        "0",
        "--sort-into",
        tmp_path / "s",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "s" / "unknown").iterdir()) == [
        "black.png",
        *(f"noise_{i}.png" for i in range(3)),
    ]
    assert "UNKNOWN" in out and "4 of them look unlike the training pictures" in out


def test_bad_unknown_threshold_gets_a_plain_message(trained, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(trained.project), str(trained.odd), "--unknown-threshold", "lots"])
    assert "'lots' is not a number" in capsys.readouterr().err


def test_a_run_from_before_calibration_says_so_and_can_be_calibrated(trained, run_cli):
    (trained.run / "calibration.json").unlink()
    code, out, err = run_cli("predict", trained.project, trained.odd, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["calibrated"] is False and all(p["unknown"] is None for p in data["predictions"])
    assert "not calibrated" in err
    code, out, _ = run_cli("evaluate", trained.project, "--json")
    assert json.loads(out)["calibration"]["calibrated"] is False
    code, out, _ = run_cli("evaluate", trained.project, "--recalibrate", "--json")
    assert code == 0 and json.loads(out)["calibration"]["calibrated"] is True
    assert (trained.run / "calibration.json").exists()


def test_evaluate_leaves_out_labels_a_person_accepted_as_right(run_cli, tmp_path):
    """label_review.json (written by Evaluate's "Accept") is a run file the CLI reads too."""
    from cnnstudio.core.project import Project
    from cnnstudio.core.runs import find_run
    from cnnstudio.core.runs.review import ReviewStore

    data = write_tiny_image_folder(tmp_path / "data", classes=3, per_class=20, size=24)
    argv = ["train", data, "--project", tmp_path / "project", "--template", "tiny", "--epochs", "12"]
    assert run_cli(*argv, "--batch-size", "8", "--lr", "0.01", "--json")[0] == 0
    folder = write_tiny_image_folder(tmp_path / "mislabelled", classes=3, per_class=20, size=24, seed=7)
    for path in sorted((folder / "class_0").iterdir())[:3]:  # filed under class_1: likely label errors
        path.rename(folder / "class_1" / f"wrong_{path.name}")
    code, out, err = run_cli("evaluate", tmp_path / "project", "--folder", folder, "--json")
    assert code == 0, err
    issues = json.loads(out)["label_issues"]
    planted = [row["path"] for row in issues if Path(row["path"]).name.startswith("wrong_")]
    assert len(planted) >= 2 and json.loads(out)["labels_accepted"] == 0
    project = Project.open(tmp_path / "project")
    ReviewStore(find_run(project, None), key=project.key).set_accepted([planted[0]], True)
    code, out, err = run_cli("evaluate", tmp_path / "project", "--folder", folder, "--json")
    data = json.loads(out)
    assert data["labels_accepted"] == 1
    assert planted[0] not in [row["path"] for row in data["label_issues"]]
    assert planted[1] in [row["path"] for row in data["label_issues"]]
    code, out, _ = run_cli("evaluate", tmp_path / "project", "--folder", folder)
    assert "(1 accepted as right by a person are left out)" in out


def test_a_calibration_from_before_core_trust_is_redone_when_the_app_evaluates(trained):
    """A version-1 calibration (Mahalanobis) keeps its temperature but its score is not used; the
    app's Evaluate calibrates the run again (gui/evaluate/jobs.py calls this first)."""
    from cnnstudio.core.pipeline import recalibrate_if_outdated
    from cnnstudio.core.project import Project
    from cnnstudio.core.trust import Calibration

    (trained.run / "calibration.json").write_text(
        '{"schema_version": 1, "fitted": true, "temperature": 1.3, "val_count": 9, "note": "",'
        ' "unknown": {"method": "mahalanobis", "threshold": 94.25}}',
        encoding="utf-8",
    )
    old = Calibration.load(trained.run)
    assert old.outdated and not old.has_unknown and "calibrated again" in old.status
    project = Project.open(trained.project)
    assert recalibrate_if_outdated(project, trained.run) is True
    new = Calibration.load(trained.run)
    assert not new.outdated and new.has_unknown and new.method == "layers"
    assert recalibrate_if_outdated(project, trained.run) is False  # nothing left to do
