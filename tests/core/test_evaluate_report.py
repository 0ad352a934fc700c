"""EvaluationReport from hand-made probabilities: metrics against scikit-learn, files, text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import EvaluationReport, metric_explanations

CLASSES = ["cat", "dog", "bird", "a very long class name that will not fit"]


def _probs_for(predicted: list[int], num_classes: int, confidence: float = 0.7) -> np.ndarray:
    probs = np.full((len(predicted), num_classes), (1 - confidence) / (num_classes - 1), dtype=np.float32)
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


@pytest.fixture
def report() -> EvaluationReport:
    # Class 3 ("a very long ...") is neither labelled nor predicted; class 2 is predicted but never
    # labelled, so its precision is 0/1 and its recall 0/0 (zero division).
    y_true = [0, 0, 0, 1, 1, 1, 1, 0, 1, 0]
    y_pred = [0, 0, 1, 1, 1, 0, 2, 0, 1, 0]
    probs = _probs_for(y_pred, len(CLASSES))
    paths = [f"/data/img_{i}.png" for i in range(len(y_true))]
    return EvaluationReport.from_predictions(probs, y_true, class_names=CLASSES, paths=paths, split="test")


def test_metrics_equal_scikit_learn_including_absent_classes(report: EvaluationReport) -> None:
    y_true, y_pred = report.y_true, report.y_pred
    labels = list(range(len(CLASSES)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    assert [row["class"] for row in report.per_class] == CLASSES
    assert np.allclose([row["precision"] for row in report.per_class], p)
    assert np.allclose([row["recall"] for row in report.per_class], r)
    assert np.allclose([row["f1"] for row in report.per_class], f)
    assert [row["support"] for row in report.per_class] == list(s)
    for average, got in (("macro", report.macro), ("weighted", report.weighted)):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        assert got == pytest.approx({"precision": p, "recall": r, "f1": f})
    assert report.accuracy == pytest.approx(7 / 10)
    # The absent class and the zero-division class are listed with zeros, not NaN.
    assert report.per_class[3] == {
        "class": CLASSES[3],
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert report.per_class[2]["precision"] == 0.0 and report.per_class[2]["recall"] == 0.0


def test_confusion_counts_and_rows_normalised_by_true_class(report: EvaluationReport) -> None:
    expected = confusion_matrix(report.y_true, report.y_pred, labels=range(4))
    assert np.array_equal(report.confusion, expected)
    assert report.confusion.tolist() == [[4, 1, 0, 0], [1, 3, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    norm = report.confusion_normalized
    assert np.allclose(norm[0], [0.8, 0.2, 0, 0]) and np.allclose(norm[1], [0.2, 0.6, 0.2, 0])
    assert np.allclose(norm.sum(axis=1), [1, 1, 0, 0])  # absent classes: all-zero rows, no NaN
    assert np.isfinite(norm).all()


def test_losses_are_cross_entropy_of_the_given_label(report: EvaluationReport) -> None:
    expected = -np.log(report.probs[np.arange(10), report.y_true])
    assert np.allclose(report.losses, expected, rtol=1e-6)
    assert report.losses.dtype == np.float32 and report.probs.dtype == np.float32


def test_top_losses_highest_first_with_details() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.2, 0.8]], dtype=np.float32)
    report = EvaluationReport.from_predictions(
        probs, [0, 0, 0, 0, 1], class_names=["a", "b"], paths=["p0", "p1", "p2", "p3", "p4"]
    )
    top = report.top_losses(3)
    assert [row["index"] for row in top] == [3, 1, 2]
    assert top[0] == {
        "index": 3,
        "path": "p3",
        "label": "a",
        "label_index": 0,
        "predicted": "b",
        "predicted_index": 1,
        "confidence": pytest.approx(0.95),
        "loss": pytest.approx(-np.log(0.05), rel=1e-5),
    }
    losses = [row["loss"] for row in report.top_losses(100)]
    assert losses == sorted(losses, reverse=True) and len(losses) == 5
    assert report.top_losses(0) == []


def test_save_load_round_trip(report: EvaluationReport, tmp_path) -> None:
    written = report.save(tmp_path)  # a folder: evaluation.json inside
    assert written == tmp_path / "evaluation.json"
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation.json"]  # no temp file left behind
    loaded = EvaluationReport.load(tmp_path)
    assert loaded == report
    assert loaded.to_dict() == report.to_dict()
    assert np.array_equal(loaded.probs, report.probs) and loaded.probs.dtype == np.float32
    assert np.array_equal(loaded.losses, report.losses)
    assert np.array_equal(loaded.confusion, report.confusion)
    assert loaded.paths == report.paths and loaded.split == "test" and loaded.run is None
    data = json.loads(written.read_text())
    assert data["schema_version"] == 1
    assert data["predictions"][2]["predicted"] == "dog" and len(data["predictions"][2]["probabilities"]) == 4


def test_round_trip_without_paths_to_a_file_name(tmp_path) -> None:
    probs = _probs_for([0, 1, 1], 2, confidence=0.9)
    report = EvaluationReport.from_predictions(probs, [0, 1, 0], class_names=["x", "y"], run="run-1")
    path = report.save(tmp_path / "sub" / "eval.json")
    loaded = EvaluationReport.load(path)
    assert loaded == report and loaded.paths is None and loaded.run == "run-1"


def test_save_replaces_an_existing_file(report: EvaluationReport, tmp_path) -> None:
    target = tmp_path / "evaluation.json"
    target.write_text("old")
    report.save(target)
    assert EvaluationReport.load(target) == report


def test_load_explains_bad_files(tmp_path) -> None:
    with pytest.raises(UserError, match="no evaluation file"):
        EvaluationReport.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(UserError, match="damaged"):
        EvaluationReport.load(broken)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(UserError, match="newer version"):
        EvaluationReport.load(newer)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"schema_version": 1, "class_names": ["a"]}))
    with pytest.raises(UserError, match="damaged"):
        EvaluationReport.load(partial)


def test_format_table_lists_classes_and_numbers(report: EvaluationReport) -> None:
    table = report.format_table()
    for name in ("cat", "dog", "bird", "macro avg", "weighted avg", "accuracy", "precision", "recall", "F1"):
        assert name in table
    assert "a very long class" in table and CLASSES[3] not in table  # shortened
    assert f"{report.per_class[0]['precision']:.3f}" in table  # 0.800
    assert f"{report.weighted['f1']:.3f}" in table
    assert "0.700" in table  # accuracy
    accuracy_line = next(line for line in table.splitlines() if line.startswith("accuracy"))
    assert accuracy_line.split() == ["accuracy", "0.700", "10"]


def test_format_confusion_has_names_and_counts(report: EvaluationReport) -> None:
    text = report.format_confusion()
    lines = text.splitlines()
    assert len(lines) == 1 + len(CLASSES)
    assert lines[1].split() == ["cat", "4", "1", "0", "0"]
    assert lines[2].split() == ["dog", "1", "3", "1", "0"]
    assert "a very..." in text and CLASSES[3] not in text
    shares = report.format_confusion(normalized=True).splitlines()
    assert shares[1].split() == ["cat", "80.0%", "20.0%", "0.0%", "0.0%"]


def test_metric_explanations_cover_the_table() -> None:
    for key in ("accuracy", "precision", "recall", "f1", "support", "macro", "weighted"):
        text = metric_explanations[key]
        assert text and "\n" not in text
    assert EvaluationReport.metric_explanations is metric_explanations


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        EvaluationReport.from_predictions(np.zeros((2, 3)), [0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match="class indices"):
        EvaluationReport.from_predictions(np.full((2, 2), 0.5), [0, 2], class_names=["a", "b"])
