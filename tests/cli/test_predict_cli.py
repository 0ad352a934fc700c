"""`cnnstudio predict MODEL IMAGE_OR_FOLDER...`: table, JSON, CSV, sorting, thresholds, bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.cli import main
from cnnstudio.core.export import write_bundle
from cnnstudio.core.spec import build_model, template


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    spec = template("tiny")
    path = tmp_path_factory.mktemp("model") / "tiny.cnnmodel"
    names = ["class_0", "class_1", "class_2"]
    return write_bundle(
        path,
        build_model(spec, 3),
        spec=spec.to_dict(),
        preprocessing=spec.preprocessing(),
        class_names=names,
        card={},
    )


@pytest.fixture
def pictures(tiny_image_folder) -> Path:
    data = tiny_image_folder(classes=3, per_class=2, size=32)
    (data / "class_0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return data


def test_json_lists_predictions_and_problems(bundle, pictures, run_cli):
    code, out, err = run_cli("predict", bundle, pictures, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["predictions"]) == 6
    row = result["predictions"][0]
    assert set(row) == {"path", "label", "confidence", "top", "unknown", "unknown_score"}
    assert row["unknown"] is None and row["unknown_score"] is None  # a bundle without calibration
    assert row["label"] == row["top"][0][0] and row["confidence"] == row["top"][0][1]
    assert len(row["top"]) == 3 and sum(p for _, p in row["top"]) == pytest.approx(1.0, abs=1e-5)
    assert [Path(p["path"]).name for p in result["problems"]] == ["broken.jpg"]
    assert result["problems"][0]["reason"].startswith("damaged or cut-off image")


def test_text_table_csv_and_threshold(bundle, pictures, tmp_path, run_cli):
    out_csv = tmp_path / "p.csv"
    code, out, err = run_cli("predict", bundle, pictures, "--csv", out_csv, "--threshold", "99%")
    assert code == 0, err
    assert "class" in out.splitlines()[0] and "confidence" in out.splitlines()[0]
    assert "Skipped 1 file(s)" in out and "broken.jpg" in out
    assert "6 pictures predicted: unknown 6" in out
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8-sig")))
    assert len(rows) == 7 and sum(r["label"] == "unknown" for r in rows) == 6


def test_sort_into_copies_and_never_overwrites(bundle, pictures, tmp_path, run_cli):
    code, out, _ = run_cli("predict", bundle, pictures, "--json")
    first = json.loads(out)["predictions"][0]
    dest = tmp_path / "sorted"
    clash = dest / first["label"] / Path(first["path"]).name
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"keep me")
    code, out, err = run_cli("predict", bundle, pictures, "--sort-into", dest, "--json")
    assert code == 0, err
    moved = json.loads(out)["sorted"]
    assert len(moved) == 6 and clash.read_bytes() == b"keep me"
    assert moved[0]["to"] == str(clash.with_name(f"{clash.stem} (1){clash.suffix}"))
    assert all(Path(m["from"]).exists() and Path(m["to"]).exists() for m in moved)


def test_move(bundle, pictures, tmp_path, run_cli):
    code, out, err = run_cli("predict", bundle, pictures / "class_1", "--sort-into", tmp_path / "s", "--move")
    assert code == 0, err
    assert "Moved 2 pictures into" in out
    assert not list((pictures / "class_1").iterdir())
    assert len(list((tmp_path / "s").rglob("*.*"))) == 2


def test_a_move_keeps_an_undo_journal_and_undo_move_puts_every_picture_back(
    bundle, pictures, tmp_path, run_cli
):
    originals = {p: p.read_bytes() for p in sorted(pictures.rglob("img_*"))}
    dest = tmp_path / "sorted"
    code, out, err = run_cli("predict", bundle, pictures, "--sort-into", dest, "--move", "--json")
    assert code == 0, err
    result = json.loads(out)
    journal = Path(result["undo_journal"])  # before: a move from the terminal kept no journal
    record = json.loads(journal.read_text())
    assert record["mode"] == "move" and record["status"] == "done" and len(record["ops"]) == 6
    assert not any(p.exists() for p in originals) and len(list(dest.rglob("img_*"))) == 6

    code, out, err = run_cli("undo-move", journal)
    assert code == 0, err
    assert "Put 6 pictures back where they were." in out
    assert {p: p.read_bytes() for p in originals} == originals  # every picture back, unchanged
    assert not dest.exists()  # the folders the move made are gone again
    code, _, err = run_cli("undo-move", journal)
    assert code == 2 and "already undone" in err

    # The text output names the command; without a journal, undo-move takes the newest move.
    code, out, err = run_cli("predict", bundle, pictures / "class_1", "--sort-into", dest, "--move")
    assert code == 0, err
    assert "To put every picture back where it was: cnnstudio undo-move " in out
    code, out, err = run_cli("undo-move", "--json")
    assert code == 0, err
    assert len(json.loads(out)["restored"]) == 2
    assert all(p.exists() for p in originals)


def test_a_project_as_model(tmp_path, tiny_image_folder, run_cli):
    data = tiny_image_folder(classes=2, per_class=6, size=24)
    project = tmp_path / "project"
    code, _, err = run_cli(
        "train",
        data,
        "--project",
        project,
        "--template",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "8",
    )
    assert code == 0, err
    code, out, err = run_cli("predict", project, data / "class_0", "--json")
    assert code == 0, err
    assert len(json.loads(out)["predictions"]) == 6
    assert "Model: run " in err
    code, out, err = run_cli("predict", project, data, "--run", "nope")
    assert code == 2 and "no run called 'nope'" in err


@pytest.mark.parametrize("kind", ["random bytes", "missing", "text"])
def test_a_bad_model_file_is_one_line_and_exit_2(pictures, tmp_path, run_cli, kind):
    model = tmp_path / "bad.cnnmodel"
    if kind == "random bytes":
        model.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "text":
        model.write_text("hello")
    before = sorted(tmp_path.rglob("*"))
    code, out, err = run_cli("predict", model, pictures, "--sort-into", tmp_path / "sorted")
    assert code == 2 and out == ""
    assert err.startswith("cnnstudio predict: ") and err.count("\n") == 1
    assert "bad.cnnmodel" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_other_user_errors(bundle, pictures, tmp_path, run_cli):
    code, _, err = run_cli("predict", bundle, pictures, "--move")
    assert code == 2 and "--sort-into" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("predict", bundle, tmp_path / "empty")
    assert code == 2 and "No pictures found" in err
    code, out, _ = run_cli("predict", bundle, pictures / "class_0" / "broken.jpg")
    assert code == 1 and "broken.jpg" in out
    with pytest.raises(SystemExit):
        main(["predict", str(bundle), str(pictures), "--threshold", "2"])
