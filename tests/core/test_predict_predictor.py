"""The Predictor: the app's own preprocessing and probabilities, broken files skipped, CSV, sorting."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.core.dataset import decode_image
from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import predict_probabilities
from cnnstudio.core.export import UNKNOWN, LoadedModel, Predictor, sort_into, write_bundle
from cnnstudio.core.spec import build_model, template


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    torch.manual_seed(3)
    spec = template("tiny")
    model = build_model(spec, 3).eval()
    return LoadedModel(model, spec.preprocessing(), ["class_0", "class_1", "class_2"], spec.to_dict(), "test")


@pytest.fixture
def folder(tiny_image_folder, tmp_path) -> Path:
    data = tiny_image_folder(classes=3, per_class=4, size=40)
    (data / "class_1" / "empty.jpg").write_bytes(b"")
    (data / "class_2" / "notes.jpg").write_text("not a picture")
    cut = (data / "class_0" / "img_001.jpg").read_bytes()
    (data / "class_0" / "cut.jpg").write_bytes(cut[: len(cut) // 2])
    (data / ".DS_Store").write_bytes(b"junk")
    (data / "readme.txt").write_text("ignored: not a picture name")
    return data


def reference(loaded: LoadedModel, paths: list[str]) -> np.ndarray:
    prep = loaded.preprocessing
    X = np.stack([decode_image(p, prep.height, prep.width, prep.num_channels, prep.fit) for p in paths])
    return predict_probabilities(loaded.model, X, prep)


def test_predictions_are_the_apps_own(loaded, folder):
    result = Predictor(loaded, batch_size=4).predict([folder])
    paths = [p.path for p in result.predictions]
    assert paths == sorted(paths) and len(paths) == 12
    expected = reference(loaded, paths)
    for prediction, row in zip(result.predictions, expected, strict=True):
        assert prediction.confidence == pytest.approx(float(row.max()), abs=1e-7)
        assert prediction.label == loaded.class_names[int(row.argmax())]
        assert [label for label, _ in prediction.top] == [
            loaded.class_names[i] for i in np.argsort(-row, kind="stable")
        ]
        assert [p for _, p in prediction.top] == sorted((p for _, p in prediction.top), reverse=True)


def test_broken_files_are_listed_with_their_reason_and_skipped(loaded, folder, tmp_path):
    missing = tmp_path / "gone.png"
    result = Predictor(loaded).predict([folder, missing])
    reasons = {Path(p.path).name: p.reason for p in result.problems}
    assert set(reasons) == {"gone.png", "empty.jpg", "notes.jpg", "cut.jpg"}
    assert reasons["gone.png"].startswith("file not found")
    assert reasons["empty.jpg"].startswith("empty file")
    assert reasons["notes.jpg"].startswith("not an image")
    assert reasons["cut.jpg"].startswith("damaged or cut-off image")
    assert len(result.predictions) == 12


def test_the_same_results_whatever_the_batching_and_threads(loaded, folder):
    a = Predictor(loaded, batch_size=1, workers=1).predict(folder)
    b = Predictor(loaded, batch_size=5, workers=3).predict(folder)
    assert [p.path for p in a.predictions] == [p.path for p in b.predictions]
    for x, y in zip(a.predictions, b.predictions, strict=True):
        assert x.label == y.label
        assert x.confidence == pytest.approx(y.confidence, abs=1e-6)
    assert a.problems == b.problems


def test_a_threshold_turns_unsure_predictions_into_unknown(loaded, folder):
    confidences = sorted(p.confidence for p in Predictor(loaded).predict(folder).predictions)
    threshold = (confidences[3] + confidences[4]) / 2
    result = Predictor(loaded, threshold=threshold).predict(folder)
    unknown = [p for p in result.predictions if p.label == UNKNOWN]
    assert len(unknown) == 4
    assert all(p.confidence < threshold and p.top[0][0] != UNKNOWN for p in unknown)
    assert all(p.confidence >= threshold for p in result.predictions if p.label != UNKNOWN)
    assert result.counts()[UNKNOWN] == 4
    assert not any(p.label == UNKNOWN for p in Predictor(loaded, threshold=0).predict(folder).predictions)
    with pytest.raises(UserError, match="between 0 and 1"):
        Predictor(loaded, threshold=1.5)


def test_csv_has_a_row_per_picture_and_per_problem(loaded, folder, tmp_path):
    result = Predictor(loaded, threshold=0.99).predict(folder)
    out = result.write_csv(tmp_path / "out" / "predictions.csv")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM, for Excel
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "path",
        "label",
        "confidence",
        "top_1",
        "p_1",
        "top_2",
        "p_2",
        "top_3",
        "p_3",
        "unknown",
        "unknown_score",
        "problem",
    ]
    assert len(rows) == 12 + 3
    first = result.predictions[0]
    assert rows[0]["path"] == first.path and rows[0]["label"] == UNKNOWN
    assert float(rows[0]["confidence"]) == pytest.approx(first.confidence, abs=1e-6)
    assert rows[0]["top_1"] == first.top[0][0] and float(rows[0]["p_3"]) == pytest.approx(
        first.top[2][1], abs=1e-6
    )
    problems = [r for r in rows if r["problem"]]
    assert {Path(r["path"]).name for r in problems} == {"empty.jpg", "notes.jpg", "cut.jpg"}
    assert all(r["label"] == "" for r in problems)


def test_to_dict_is_the_cli_json_shape(loaded, folder):
    data = Predictor(loaded).predict(folder).to_dict()
    assert set(data) == {"predictions", "problems", "unknown_threshold", "calibrated"}
    assert data["calibrated"] is False and data["unknown_threshold"] is None  # an uncalibrated model
    row = data["predictions"][0]
    assert set(row) == {"path", "label", "confidence", "top", "unknown", "unknown_score"}
    assert row["unknown"] is None and row["unknown_score"] is None
    assert all(isinstance(label, str) and isinstance(p, float) for label, p in row["top"])
    assert set(data["problems"][0]) == {"path", "reason"}


def test_sorting_copies_into_class_folders_and_never_overwrites(loaded, folder, tmp_path):
    result = Predictor(loaded).predict(folder)
    dest = tmp_path / "sorted"
    first = result.predictions[0]
    clash = dest / first.label / Path(first.path).name
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"already here")
    moves = sort_into(result.predictions, dest)
    assert clash.read_bytes() == b"already here"
    assert moves[0] == (first.path, str(clash.with_name(f"{clash.stem} (1){clash.suffix}")))
    for source, target in moves:
        assert Path(source).exists() and Path(target).read_bytes() == Path(source).read_bytes()
        assert Path(target).parent.name == next(p.label for p in result.predictions if p.path == source)
    before = {f: f.read_bytes() for f in dest.rglob("*.*")}
    again = sort_into(result.predictions, dest)  # a second run adds, never replaces
    assert {f: f.read_bytes() for f in before} == before
    assert not {Path(t) for _, t in again} & set(before)
    assert len(list(dest.rglob("*.*"))) == 1 + 2 * len(result.predictions)


def test_sorting_by_moving(loaded, folder, tmp_path):
    result = Predictor(loaded, threshold=0.99).predict(folder)
    contents = {p.path: Path(p.path).read_bytes() for p in result.predictions}
    moves = sort_into(result.predictions, tmp_path / "moved", move=True)
    for source, target in moves:
        assert not Path(source).exists()
        assert Path(target).read_bytes() == contents[source]
        assert Path(target).parent.name == UNKNOWN


def test_same_named_pictures_from_two_folders_both_arrive(loaded, folder, tmp_path):
    result = Predictor(loaded).predict(
        [folder / "class_0" / "img_000.png", folder / "class_1" / "img_000.png"]
    )
    targets = [Path(t) for _, t in sort_into([p for p in result.predictions], tmp_path / "s")]
    assert len(set(targets)) == 2 and all(t.exists() for t in targets)


def test_progress_and_stop(loaded, folder):
    seen = []
    Predictor(loaded, workers=1, batch_size=2).predict(folder, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (15, 15)
    result = Predictor(loaded, workers=1, batch_size=2).predict(folder, should_stop=lambda: True)
    assert result.stopped and len(result.predictions) < 12


def test_from_a_bundle(loaded, folder, tmp_path):
    path = write_bundle(
        tmp_path / "m.cnnmodel",
        loaded.model,
        spec=loaded.spec,
        preprocessing=loaded.preprocessing,
        class_names=loaded.class_names,
        card={},
    )
    a = Predictor.from_source(path).predict(folder)
    b = Predictor(loaded).predict(folder)
    assert [(p.path, p.label, p.confidence) for p in a.predictions] == [
        (p.path, p.label, p.confidence) for p in b.predictions
    ]


def test_a_journalled_move_is_undone_even_after_a_failure_part_way(loaded, folder, tmp_path):
    from cnnstudio.core.export.sorting import SortError, new_sort_journal, undo_sort
    from cnnstudio.core.labels.journal import read_journal

    pictures = tmp_path / "pictures"
    shutil.copytree(folder, pictures)
    result = Predictor(loaded).predict(pictures)
    predictions = result.predictions
    contents = {p.path: Path(p.path).read_bytes() for p in predictions}
    missing = predictions[3]
    Path(missing.path).unlink()  # gone before the move reaches it: the move fails part-way
    journal = new_sort_journal(tmp_path / "journal")
    dest = tmp_path / "sorted"
    with pytest.raises(SortError, match="3 pictures were already moved") as failure:
        sort_into(predictions, dest, move=True, journal=journal)
    done = failure.value.done
    assert [frm for frm, _ in done] == [p.path for p in predictions[:3]]
    for frm, to in done:
        assert not Path(frm).exists() and Path(to).read_bytes() == contents[frm]
    record = read_journal(journal)
    assert record["status"] == "failed" and record["done"] == 3 and record["kind"] == "sort_predictions"
    assert len(record["ops"]) == len(predictions)  # the plan was written before the first move
    placed = sorted(f for f in dest.rglob("*") if f.is_file())
    assert placed == sorted(Path(to) for _, to in done)  # no empty placeholders left behind

    back = undo_sort(journal)
    assert sorted(back) == sorted((to, frm) for frm, to in done)
    for p in predictions:
        if p is not missing:
            assert Path(p.path).read_bytes() == contents[p.path]
    assert not dest.exists()  # the folders the move created are gone again
    assert read_journal(journal)["status"] == "undone"
    with pytest.raises(UserError, match="already undone"):
        undo_sort(journal)


def test_a_journalled_copy_is_undone_by_deleting_the_copies(loaded, folder, tmp_path):
    from cnnstudio.core.export.sorting import new_sort_journal, undo_sort

    result = Predictor(loaded).predict(folder)
    dest = tmp_path / "copies"
    dest.mkdir()
    (dest / "mine.txt").write_text("the user's")
    journal = new_sort_journal(tmp_path)
    pairs = sort_into(result.predictions, dest, journal=journal)
    assert all(Path(t).exists() and Path(f).exists() for f, t in pairs)
    undo_sort(journal)
    assert not any(Path(t).exists() for _, t in pairs)
    assert sorted(p.name for p in dest.iterdir()) == ["mine.txt"]  # the user's folder and file stay
