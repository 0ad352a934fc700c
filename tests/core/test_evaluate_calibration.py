"""Temperature scaling, ECE, the unknown score and calibration.json, on a small MLP really trained to be over-confident."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import (
    Calibration,
    evaluate_model,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    predict_calibrated,
    predict_probabilities,
)
from cnnstudio.core.evaluate.calibration import FILE_NAME, calibration_bins, softmax

SIZE = 8


class Scale255:
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255


def _blobs(n: int, seed: int, noise: float = 60.0, flip: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Three classes: a bright left, middle or right band, with noise; a quarter of the labels are
    random, so no model can be sure and one that memorises its training pictures is over-confident."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    X = np.full((n, 1, SIZE, SIZE), 100.0)
    for i, c in enumerate(y):
        X[i, :, :, 2 * c + 1 : 2 * c + 3] = 160
    X += rng.normal(0, noise, size=X.shape)
    flipped = rng.random(n) < flip
    y[flipped] = rng.integers(0, 3, size=int(flipped.sum()))
    return np.clip(X, 0, 255).astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def overconfident() -> nn.Module:
    """An MLP overfitted on 60 noisy pictures for many steps: near 100% sure, often wrong on new ones."""
    torch.manual_seed(0)
    X, y = _blobs(60, seed=1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 64), nn.ReLU(), nn.Linear(64, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xb, yb = torch.from_numpy(X).float() / 255, torch.from_numpy(y)
    for _ in range(400):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    return model.eval()


def test_ece_matches_the_textbook_definition():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 1, 1, 1])
    # confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.55 (right); 15 bins of width 1/15.
    expected = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(1 - 0.55)) / 4
    assert expected_calibration_error(probs, y) == pytest.approx(expected)
    bins = calibration_bins(probs, y)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert bins[0]["lower"] == 0.0 and bins[-1]["upper"] == 1.0


def test_temperature_scaling_lowers_ece_of_an_overconfident_model(overconfident):
    X_val, y_val = _blobs(300, seed=2)
    X_train, _ = _blobs(60, seed=1)
    cal = fit_calibration(overconfident, Scale255(), X_train, X_val, y_val)
    assert cal.fitted and cal.temperature > 1.5  # over-confident: the logits must be softened
    assert cal.ece_after < cal.ece_before * 0.6
    # On pictures it never saw either: the temperature generalises.
    X_test, y_test = _blobs(300, seed=3)
    raw = predict_probabilities(overconfident, X_test, Scale255())
    calibrated = predict_calibrated(overconfident, X_test, Scale255(), cal).probs
    assert expected_calibration_error(calibrated, y_test) < expected_calibration_error(raw, y_test)
    # Weights untouched: the same best class for every picture.
    assert (calibrated.argmax(1) == raw.argmax(1)).all()
    np.testing.assert_allclose(calibrated.sum(1), 1.0, atol=1e-5)


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=(4000, 5)).astype(np.float32)
    y = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    assert fit_temperature(true_logits * 3.0, y) == pytest.approx(3.0, rel=0.1)


def test_unknown_scores_flag_pictures_unlike_the_training_ones(overconfident):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(200, seed=2)
    cal = fit_calibration(overconfident, Scale255(), X_train, X_val, y_val)
    val = predict_calibrated(overconfident, X_val, Scale255(), cal)
    assert 0.9 <= 1 - val.unknown.mean() <= 0.97  # about 95% of the validation pictures pass
    # Black pictures: nothing like the training ones. (How well the score separates real pictures
    # from other sources is measured by benchmarks/bench_unknown.py, on a real CNN.)
    far = np.zeros((10, 1, SIZE, SIZE), np.uint8)
    out = predict_calibrated(overconfident, far, Scale255(), cal)
    assert out.unknown.mean() > 0.9
    # A stricter or looser threshold given by the user wins over the calibration's.
    assert not predict_calibrated(overconfident, far, Scale255(), cal, threshold=1e12).unknown.any()


def test_calibration_round_trips_through_its_file(overconfident, tmp_path):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(100, seed=2)
    cal = fit_calibration(overconfident, Scale255(), X_train, X_val, y_val)
    cal.save(tmp_path)
    back = Calibration.load(tmp_path)
    assert back.temperature == cal.temperature and back.threshold == cal.threshold
    np.testing.assert_array_equal(back.projection, cal.projection)
    np.testing.assert_array_equal(back.centres, cal.centres)
    a = predict_calibrated(overconfident, X_val, Scale255(), cal).unknown_scores
    b = predict_calibrated(overconfident, X_val, Scale255(), back).unknown_scores
    np.testing.assert_array_equal(a, b)


def test_a_run_without_calibration_is_temperature_one_and_says_so(overconfident, tmp_path):
    cal = Calibration.load(tmp_path)
    assert not cal.fitted and cal.temperature == 1.0 and "not calibrated" in cal.status
    X, y = _blobs(20, seed=4)
    out = predict_calibrated(overconfident, X, Scale255(), cal)
    np.testing.assert_array_equal(out.probs, predict_probabilities(overconfident, X, Scale255()))
    assert out.unknown_scores is None and out.unknown is None


def test_a_damaged_calibration_file_gets_a_plain_message(tmp_path):
    (tmp_path / FILE_NAME).write_text('{"schema_version": 1, "temperature": -3}')
    with pytest.raises(UserError, match="damaged"):
        Calibration.load(tmp_path)
    (tmp_path / FILE_NAME).write_text("not json")
    with pytest.raises(UserError, match="damaged"):
        Calibration.load(tmp_path)


def test_evaluation_report_holds_calibration_and_unknown_scores(overconfident, tmp_path):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(100, seed=2)
    cal = fit_calibration(overconfident, Scale255(), X_train, X_val, y_val)
    report = evaluate_model(
        overconfident, X_val, y_val, class_names=["a", "b", "c"], preprocessing=Scale255(), calibration=cal
    )
    data = report.to_dict()
    assert data["calibration"]["temperature"] == cal.temperature
    assert data["calibration"]["ece_after"] == cal.ece_after and len(data["calibration"]["bins"]) == 15
    assert all("unknown" in row and "unknown_score" in row for row in data["predictions"])
    flagged = report.flagged_unknown()
    assert flagged and all(row["unknown"] for row in flagged)
    assert len(flagged) == sum(row["unknown"] for row in data["predictions"])
    back = type(report).load(report.save(tmp_path / "evaluation.json"))
    assert back == report
