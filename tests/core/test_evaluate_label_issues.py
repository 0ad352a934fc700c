"""Likely label errors (confident learning) on a synthetic probability matrix with planted flips."""

from __future__ import annotations

import numpy as np

from cnnstudio.core.evaluate import EvaluationReport, find_label_issues
from cnnstudio.core.evaluate.label_issues import class_thresholds


def _planted(seed: int = 0):
    """300 samples, 3 classes; the model is right and fairly sure, except 6 planted label flips."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), 100)
    logits = rng.normal(0, 0.5, (300, 3))
    logits[np.arange(300), truth] += rng.uniform(1.5, 3.5, 300)
    flipped = np.array([5, 60, 130, 170, 220, 290])
    logits[flipped, truth[flipped]] += 2.0  # the model is confident about what these really are
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    labels[flipped] = (truth[flipped] + 1) % 3
    return probs.astype(np.float32), labels, truth, flipped


def test_thresholds_are_mean_self_confidence_per_class() -> None:
    probs = np.array([[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.4, 0.6, 0.0]])
    thresholds = class_thresholds(probs, np.array([0, 0, 1]))
    assert np.allclose(thresholds[:2], [0.8, 0.6])
    assert thresholds[2] == np.inf  # no sample labelled 2: never suggested


def test_planted_flips_are_found_and_clean_samples_are_not() -> None:
    probs, labels, truth, flipped = _planted()
    issues = find_label_issues(probs, labels)
    found = {issue["index"] for issue in issues}
    assert set(flipped) <= found
    # A few genuinely ambiguous clean samples may be flagged, but not many.
    assert len(found - set(flipped)) <= 6
    for issue in issues:
        if issue["index"] in set(flipped):
            assert issue["suggested"] == truth[issue["index"]]
    confidences = [issue["self_confidence"] for issue in issues]
    assert confidences == sorted(confidences)  # most doubtful first
    # The planted flips have the lowest self-confidence of all.
    assert {issue["index"] for issue in issues[: len(flipped)]} == set(flipped)


def test_rule_on_a_hand_made_case() -> None:
    # Thresholds: class 0 -> mean(0.9, 0.8, 0.1) = 0.6, class 1 -> mean(0.9, 0.7) = 0.8.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.1, 0.9], [0.3, 0.7]])
    labels = np.array([0, 0, 0, 1, 1])
    issues = find_label_issues(probs, labels)
    # Sample 2: p[0]=0.1 < 0.6 and p[1]=0.9 >= 0.8 -> flagged. Sample 4: p[1]=0.7 < 0.8 but
    # p[0]=0.3 < 0.6, so no other class is confident -> not flagged.
    assert [issue["index"] for issue in issues] == [2]
    assert issues[0]["suggested"] == 1
    assert issues[0]["self_confidence"] == 0.1 and issues[0]["suggested_confidence"] == 0.9


def test_report_lists_issues_with_names_and_paths() -> None:
    probs, labels, truth, flipped = _planted()
    paths = [f"img_{i}.jpg" for i in range(len(labels))]
    report = EvaluationReport.from_predictions(probs, labels, class_names=["a", "b", "c"], paths=paths)
    issues = report.label_issues()
    first = issues[0]
    assert first["path"] == f"img_{first['index']}.jpg"
    assert first["label"] == "abc"[labels[first["index"]]]
    assert first["suggested"] == "abc"[truth[first["index"]]]
    assert len(report.label_issues(limit=2)) == 2
    assert report.to_dict()["label_issues"] == issues


def test_clean_confident_predictions_give_no_issues() -> None:
    probs = np.eye(3)[np.repeat(np.arange(3), 4)] * 0.9 + 0.1 / 3
    assert find_label_issues(probs, np.repeat(np.arange(3), 4)) == []
    assert find_label_issues(np.zeros((0, 3)), np.zeros(0, dtype=int)) == []
