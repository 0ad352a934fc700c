"""core.trust: temperature scaling, ECE, the unknown score and the stored calibration, on a small MLP
really trained to be over-confident; every rate is checked on pictures the calibration was not fitted on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import evaluate_model, predict_probabilities
from cnnstudio.core.trust import (
    Calibration,
    expected_calibration_error,
    fit_temperature,
    fit_trust,
    predict_calibrated,
)
from cnnstudio.core.trust.outputs import MAX_DIM, model_outputs, softmax
from cnnstudio.core.trust.store import ARRAYS_NAME, FILE_NAME, OLD_UNKNOWN, WEAK_ACCURACY
from cnnstudio.core.trust.temperature import calibration_bins, choose_temperature
from cnnstudio.core.trust.unknown import BANK_SIZE, k_for_bank

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
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val)
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


def test_unknown_threshold_passes_95_percent_of_new_pictures_and_flags_others(overconfident):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(400, seed=2)
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val)
    assert cal.method == "layers" and cal.has_unknown
    # Held out: pictures of the same kind that neither the bank nor the threshold saw.
    X_new, _ = _blobs(600, seed=5)
    passed = 1 - predict_calibrated(overconfident, X_new, Scale255(), cal).unknown.mean()
    assert 0.88 <= passed <= 0.99
    # Pictures unlike the training ones, at the calibration's own threshold: black, white, and
    # bright bands across instead of down. (How well the score separates real pictures from other
    # sources is measured by benchmarks/bench_trust.py, on real CNNs.)
    far = np.concatenate(
        [np.zeros((10, 1, SIZE, SIZE), np.uint8), np.full((10, 1, SIZE, SIZE), 255, np.uint8)]
    )
    out = predict_calibrated(overconfident, far, Scale255(), cal)
    assert out.unknown.mean() >= 0.9
    # A stricter or looser threshold given by the user wins over the calibration's.
    assert not predict_calibrated(overconfident, far, Scale255(), cal, threshold=1e12).unknown.any()


def test_the_combined_score_flags_what_either_part_flags(overconfident):
    """knn+msp is max(knn / a, msp / b): a picture far from the bank, or one between classes,
    scores above what either part alone would give it in its own units."""
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(300, seed=2)
    both = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val, method="knn+msp")
    knn = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val, method="knn")
    msp = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val, method="msp")
    X_new, _ = _blobs(300, seed=6)
    logits, features = model_outputs(overconfident, X_new, Scale255())
    probs = both.probabilities(logits)
    u = both.unknown
    combined = both.unknown_scores(features, logits)
    np.testing.assert_allclose(
        combined,
        np.maximum(
            knn.unknown_scores(features, logits) / u.knn_scale,
            msp.unknown_scores(features, logits) / u.msp_scale,
        ),
        rtol=1e-5,
    )
    np.testing.assert_allclose(msp.unknown_scores(features, logits), 1 - probs.max(1), atol=1e-6)


def test_k_shrinks_with_the_bank():
    assert k_for_bank(2048) == 10 and k_for_bank(1024) == 5 and k_for_bank(30) == 1 and k_for_bank(1) == 1


def test_a_flatten_dense_design_costs_a_bounded_calibration(tmp_path):
    """The beginner's Conv, Pool, Conv, Pool, Flatten, Dense: 12,544 features per picture. The stored
    calibration is at most two 256 x 256 matrices (a kNN bank: BANK_SIZE x 256), whatever the width
    and the picture count."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 14 * 14, 3),
    ).eval()  # fmt: skip
    rng = np.random.default_rng(0)
    X_train = rng.integers(0, 255, size=(2500, 1, 56, 56), dtype=np.uint8)
    X_val = rng.integers(0, 255, size=(200, 1, 56, 56), dtype=np.uint8)
    y_val = rng.integers(0, 3, size=200)
    cal = fit_trust(model, Scale255(), X_train, None, X_val, y_val)
    assert cal.unknown.in_width == 12544 and cal.unknown.width <= MAX_DIM
    assert cal.unknown.arrays["projection"].shape == (cal.unknown.width, cal.unknown.width)
    cal.save(tmp_path)
    assert (tmp_path / ARRAYS_NAME).stat().st_size <= (MAX_DIM + 4) * MAX_DIM * 4 + 1024
    assert (tmp_path / FILE_NAME).stat().st_size < 20_000
    knn = fit_trust(model, Scale255(), X_train, None, X_val, y_val, method="knn")
    assert knn.unknown.bank.shape == (BANK_SIZE, knn.unknown.width)  # the bank is capped too
    # The exported graph's score (raw features in) is the app's (reduced per batch).
    from cnnstudio.core.export.probability_model import exportable

    x = torch.as_tensor(X_val[:16]).float() / 255
    _probs, graph_scores = exportable(model, cal)(x)
    app = predict_calibrated(model, X_val[:16], Scale255(), cal).unknown_scores
    np.testing.assert_allclose(graph_scores.detach().numpy(), app, rtol=1e-5, atol=1e-6)


def test_temperature_rules():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(200, 5)).astype(np.float32)
    y = np.array([rng.choice(5, p=p) for p in softmax(logits)])  # honest at T = 1
    t, note = choose_temperature(logits, y, "checked")
    assert t == 1.0 and "did not make" in note
    t_sharp, note = choose_temperature(logits * 3.0, y, "checked")  # three times too sure
    assert note == "" and t_sharp == pytest.approx(3.0, rel=0.35)
    assert choose_temperature(logits * 3.0, y, "one") == (
        1.0,
        "temperature kept at 1 (not calibrated by choice)",
    )
    t_val, _ = choose_temperature(logits, y, "val")
    assert t_val != 1.0  # the plain rule always moves


def test_calibration_round_trips_through_its_file(overconfident, tmp_path):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(100, seed=2)
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val)
    cal.save(tmp_path)
    back = Calibration.load(tmp_path)
    assert back.temperature == cal.temperature and back.threshold == cal.threshold
    assert set(back.unknown.arrays) == {"offset", "projection", "centres"}
    for name, array in cal.unknown.arrays.items():
        np.testing.assert_array_equal(back.unknown.arrays[name], array)
    assert (back.unknown.k, back.unknown.knn_scale, back.unknown.msp_scale) == (
        cal.unknown.k,
        cal.unknown.knn_scale,
        cal.unknown.msp_scale,
    )
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


def test_a_bank_that_does_not_belong_to_its_calibration_is_refused(overconfident, tmp_path):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(100, seed=2)
    fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val).save(tmp_path)
    (tmp_path / ARRAYS_NAME).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(UserError, match="damaged"):
        Calibration.load(tmp_path)
    (tmp_path / ARRAYS_NAME).unlink()
    with pytest.raises(UserError, match="damaged"):
        Calibration.load(tmp_path)


def test_a_version_1_calibration_keeps_its_temperature_and_asks_to_recalibrate(tmp_path):
    """Runs calibrated before core.trust kept a Mahalanobis score: its temperature still applies."""
    (tmp_path / FILE_NAME).write_text(
        '{"schema_version": 1, "fitted": true, "temperature": 1.7, "val_count": 80, "note": "",'
        ' "unknown": {"method": "mahalanobis", "threshold": 94.25, "offset": {}, "projection": {},'
        ' "centres": {}}}'
    )
    cal = Calibration.load(tmp_path)
    assert cal.fitted and cal.temperature == 1.7 and not cal.has_unknown
    assert cal.status == OLD_UNKNOWN and "recalibrate" in cal.status


def test_few_validation_pictures_are_said_plainly(overconfident):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(60, seed=2)
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val, temperature_rule="val")
    assert cal.few_pictures and "rough guide" in cal.status
    assert cal.summary()["few_validation_pictures"] is True


def test_a_weak_model_is_said_to_give_rough_confidences(overconfident):
    """A model right on fewer than 85% of its validation pictures: its status and Evaluate's words say
    its confidences are a rough guide, however many pictures back them; one right on all says nothing."""
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(300, seed=2)
    own = predict_probabilities(overconfident, X_val, Scale255()).argmax(1)
    accuracy = float((own == y_val).mean())
    assert accuracy < WEAK_ACCURACY  # a quarter of the labels are random
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val)
    assert cal.val_accuracy == pytest.approx(accuracy) and cal.weak_model and not cal.few_pictures
    assert f"{accuracy:.0%} of its validation pictures right" in cal.caveat and "rough guide" in cal.caveat
    assert cal.summary()["weak_model"] is True and "rough guide" in cal.status
    sure = fit_trust(overconfident, Scale255(), X_train, None, X_val, own)
    assert sure.val_accuracy == 1.0 and not sure.weak_model and sure.caveat == ""


def test_evaluation_report_holds_calibration_and_unknown_scores(overconfident, tmp_path):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(100, seed=2)
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val)
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


def test_mahalanobis_scores_many_classes_in_bounded_chunks_with_the_same_numbers():
    from cnnstudio.core.trust.unknown import UnknownParams, mahalanobis_fit

    rng = np.random.default_rng(0)
    features = rng.normal(size=(1200, 64)).astype(np.float32)
    labels = np.arange(1200) % 300  # 300 classes: (rows, 300, 64) differences are held in chunks
    params = UnknownParams("mahalanobis", mahalanobis_fit(features, labels), 1, 1.0, 1.0, 1, 64, 64)
    new = rng.normal(size=(1000, 64)).astype(np.float32)
    chunked = params.scores(new, np.zeros((1000, 300), np.float32))
    with torch.inference_mode():
        whole = params.module()(torch.as_tensor(new), torch.zeros(1000, 300)).numpy()
    assert 2**24 // params.arrays["centres"].size < len(new)  # more than one chunk
    np.testing.assert_array_equal(chunked, whole)


class _Layered(nn.Module):
    """Conv (8 maps 8x8), BatchNorm (same shape), Pool (4x4), Flatten, Linear: a SpecModel's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                nn.Conv2d(1, 8, 3, padding=1),
                nn.BatchNorm2d(8),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(128, 3),
            ]
        )

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_taps_give_penultimate_features_then_each_feature_map_shapes_last_statistics():
    from cnnstudio.core.trust.outputs import Taps, map_stats

    model = _Layered().eval()
    x = torch.randn(5, 1, 8, 8)
    taps = Taps(model)
    with torch.inference_mode():
        logits = model(x)
        features = taps.features(logits)
        conv = model.layers[0](x)
        normed = model.layers[1](conv)  # the BatchNorm's output stands for the Conv's (same shape)
        pooled = model.layers[2](normed)
    taps.remove()
    assert features.shape == (5, 128 + 2 * 8 + 2 * 8)  # the penultimate 128, then the maps' 32
    torch.testing.assert_close(features[:, :128], pooled.flatten(1))
    expected = torch.cat([map_stats(normed), map_stats(pooled)], dim=1)
    torch.testing.assert_close(features[:, 128:], expected)
    m = normed[0, 3]
    torch.testing.assert_close(map_stats(normed)[0, [3, 11]], torch.stack([m.mean(), m.std(unbiased=False)]))
    assert not model.layers[0]._forward_hooks and not model.layers[4]._forward_pre_hooks


def test_layers_score_is_the_larger_scaled_distance_and_flags_what_only_the_maps_see():
    """Pictures whose penultimate features are like the training pictures' but whose feature maps'
    statistics are not are caught by the maps' part; new pictures like the training ones pass."""
    from cnnstudio.core.trust.unknown import fit_unknown, mahalanobis_distances

    rng = np.random.default_rng(0)
    width = 16
    pen = rng.normal(size=(600, width)).astype(np.float32)
    maps = rng.normal(size=(600, 8)).astype(np.float32)
    labels = rng.integers(0, 3, 600)
    bank, val = np.hstack([pen[:400], maps[:400]]), np.hstack([pen[400:], maps[400:]])
    logits = rng.normal(size=(600, 3)).astype(np.float32)
    params, threshold = fit_unknown(
        bank, val, logits[400:], in_width=width, block=1, method="layers", bank_labels=labels[:400]
    )
    assert params.maps_width == 8 and params.feature_scale > 0 and params.maps_scale > 0
    odd = np.hstack([rng.normal(size=(100, width)), rng.normal(size=(100, 8)) + 6]).astype(np.float32)
    scores = params.scores(odd, logits[:100])
    a = [torch.as_tensor(params.arrays[n]) for n in ("offset", "projection", "centres")]
    b = [torch.as_tensor(params.arrays[n]) for n in ("maps_offset", "maps_projection", "maps_centres")]
    t = torch.as_tensor(odd)
    expected = torch.maximum(
        mahalanobis_distances(t[:, :width], *a) / params.feature_scale,
        mahalanobis_distances(t[:, width:], *b) / params.maps_scale,
    )
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-6)
    assert (scores > threshold).mean() > 0.95  # the maps' part sees them
    new = np.hstack([rng.normal(size=(1000, width)), rng.normal(size=(1000, 8))]).astype(np.float32)
    assert 0.90 <= (params.scores(new, logits[:1].repeat(1000, 0)) <= threshold).mean() <= 0.99


def test_a_penultimate_only_mahalanobis_calibration_still_loads_and_scores(tmp_path, overconfident):
    X_train, _ = _blobs(60, seed=1)
    X_val, y_val = _blobs(200, seed=2)
    cal = fit_trust(overconfident, Scale255(), X_train, None, X_val, y_val, method="mahalanobis")
    cal.save(tmp_path)
    back = Calibration.load(tmp_path)
    assert back.method == "mahalanobis" and back.unknown.maps_width == 0
    logits, features = model_outputs(overconfident, X_val, Scale255())
    np.testing.assert_array_equal(back.unknown_scores(features, logits), cal.unknown_scores(features, logits))


def test_the_threshold_lets_95_percent_of_new_pictures_pass_in_most_draws_of_few_validation_ones():
    """Held out: thresholds from 60 validation scores, judged on 20,000 new scores of the same kind."""
    from cnnstudio.core.trust.unknown import pass_threshold

    rng = np.random.default_rng(0)
    new = np.sort(rng.gamma(2.0, size=20_000))
    held, plain = [], []
    for _ in range(400):
        val = rng.gamma(2.0, size=60)
        held.append(np.searchsorted(new, pass_threshold(val), side="right") / len(new) >= 0.95)
        plain.append(np.searchsorted(new, np.quantile(val, 0.95), side="right") / len(new) >= 0.95)
    assert np.mean(held) >= 0.75 and np.mean(plain) <= 0.6  # the plain quantile: about a coin toss
    assert pass_threshold(np.arange(200.0)) == 193.0 and pass_threshold(np.arange(5.0)) == 4.0
