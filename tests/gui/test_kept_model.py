"""The Train section and Evaluate give one validation accuracy: the kept model's (best.safetensors)."""

from __future__ import annotations

from types import SimpleNamespace

LOGS = [
    {"epoch": 0, "val_accuracy": 0.80, "val_loss": 0.60},
    {"epoch": 1, "val_accuracy": 0.923, "val_loss": 0.40},  # highest accuracy
    {"epoch": 2, "val_accuracy": 0.917, "val_loss": 0.35},  # lowest loss: kept
]


def test_summary_gives_the_kept_models_accuracy_and_says_why_another_epoch_scored_higher():
    from cnnstudio.gui.train.kept import kept_model_words

    words = " ".join(kept_model_words(LOGS, SimpleNamespace(best_epoch=2, monitor="val_loss")))
    assert "kept model: 91.7% (epoch 3" in words
    assert "Epoch 2 scored higher (92.3%)" in words and "higher validation loss" in words
    same = " ".join(kept_model_words(LOGS[:2], SimpleNamespace(best_epoch=1, monitor="val_loss")))
    assert "92.3%" in same and "scored higher" not in same


def test_run_list_shows_the_kept_epochs_accuracy(tmp_path):
    from cnnstudio.core.runs import load_run, write_metrics, write_state

    run_dir = tmp_path / "20260101-000001-a"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"train": {"epochs": 3}}')
    write_metrics(run_dir, [{"kind": "epoch", "loss": 0.5, "accuracy": 0.9, **e} for e in LOGS])
    write_state(run_dir, "finished", epochs_done=3, epochs=3, best={"monitor": "val_loss", "epoch": 2})
    assert load_run(run_dir).best_val_accuracy == 0.917


def test_the_learning_rate_caption_says_what_the_red_line_is():
    from cnnstudio.gui.train.lr_dialog import lr_caption

    fastest = lr_caption(3e-3, 1e-2)
    assert "falling fastest" in fastest and "grey line marks the lowest loss" in fastest
    short = lr_caption(1e-3, 1e-2 * 1.0000000001)
    assert "one tenth of where the loss was lowest" in short and "fastest)" not in short


def test_words_a_non_programmer_reads():
    from cnnstudio.core.evaluate.explanations import METRIC_EXPLANATIONS
    from cnnstudio.core.search.settings import PRUNING

    assert METRIC_EXPLANATIONS["support"].startswith("Pictures")
    assert METRIC_EXPLANATIONS["macro"].startswith("Average, each class equal")
    assert "successive halving" not in PRUNING["halving"]
