"""The Train section's tools: the LR finder, comparing runs, the augmentation preview, the settings form,
and the pieces that keep long runs smooth (the feed, the decimating series)."""

from __future__ import annotations

import math

import pytest
from training_helpers import panel_factory, wait_tasks

from cnnstudio.gui.train.feed import Abandoned, TrainingFeed
from cnnstudio.gui.train.series import DecimatingSeries, Smoother


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def test_the_lr_finder_plots_and_its_suggestion_is_one_click_away(qtbot, make_panel):
    panel = make_panel()
    panel.lr_find_batches = 30
    dialog = panel.find_learning_rate()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=60000)
    x, _y = dialog.curve.getData()
    assert x is not None and len(x) >= 10
    assert dialog.marker.isVisible() and dialog.use_button.isEnabled()
    suggestion = dialog.result.suggestion
    assert dialog.use_button.text() == f"Use {suggestion:.2g}"
    dialog.use_button.click()
    assert panel.settings.lr.text() == f"{suggestion:.2g}"
    assert panel.config().lr == pytest.approx(float(f"{suggestion:.2g}"))


def _fake_run(runs_dir, name, val_accuracy, status="finished", run_info=None):
    """A run folder as the trainer writes it (config, state, metrics), without training."""
    from cnnstudio.core.runs import write_config, write_metrics, write_state
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig

    run_dir = runs_dir / name
    run_dir.mkdir(parents=True)
    train = TrainConfig(epochs=4).to_dict()
    write_config(
        run_dir,
        {
            "created": "2026-01-02T03:04:05",
            "spec": template("tiny").to_dict(),
            "train": train,
            "precision": "float32",
            **({"run_info": run_info} if run_info else {}),
        },
    )
    rows = [
        {
            "kind": "epoch",
            "epoch": e,
            "loss": 1.0 / (e + 1),
            "accuracy": 0.5 + e / 10,
            "val_loss": 1.2 / (e + 1),
            "val_accuracy": v,
        }
        for e, v in enumerate(val_accuracy)
    ]
    write_metrics(run_dir, rows)
    write_state(run_dir, status, epochs_done=len(rows), epochs=4, batch=0)  # pid: this process
    (run_dir / "last.safetensors").write_bytes(b"")  # listing only looks at whether it is there
    return run_dir


def test_the_run_list_overlays_two_runs(qtbot, make_panel):
    panel = make_panel()
    runs = panel.session.project.runs_dir
    _fake_run(runs, "20260101-000001-a", [0.5, 0.7, 0.8, 0.9])
    _fake_run(runs, "20260101-000002-b", [0.4, 0.6], status="stopped")
    killed = _fake_run(runs, "20260101-000003-c", [0.3], status="running")
    panel.reload_history()
    qtbot.waitUntil(lambda: len(panel.history.records) == 3, timeout=20000)
    states = {r.name: r.display_state for r in panel.history.records}
    assert states == {
        "20260101-000001-a": "finished",
        "20260101-000002-b": "stopped",
        killed.name: "interrupted",
    }
    assert panel.history.tree.topLevelItem(0).text(0) == killed.name  # newest first
    assert panel.history.record("20260101-000001-a").best_val_accuracy == 0.9
    assert panel.history.tree.topLevelItem(2).text(3) == "90.0%"
    panel.history.select(["20260101-000001-a", "20260101-000002-b"])
    qtbot.waitUntil(lambda: len(panel.plots.overlays) == 2, timeout=20000)
    lengths = {
        name: [len(item.getData()[0]) for _plot, item in items]
        for name, items in panel.plots.overlays.items()
    }
    assert lengths == {"20260101-000001-a": [4, 4, 4, 4], "20260101-000002-b": [2, 2, 2, 2]}
    panel.history.select(["20260101-000002-b"])
    qtbot.waitUntil(lambda: list(panel.plots.overlays) == ["20260101-000002-b"], timeout=20000)
    assert panel.history.resume_button.isEnabled() and not panel.history.continue_button.isEnabled()


def test_the_run_list_says_how_many_pictures_labelled_by_people_graded_a_run(qtbot, make_panel):
    panel = make_panel()
    runs = panel.session.project.runs_dir
    split = {"counts": {"train": 120, "val": 41, "test": 20}}
    _fake_run(runs, "20260101-000001-old", [0.9], run_info={"split": split})
    counted = {"train": 175, "val": 0, "test": 0}
    _fake_run(
        runs, "20260101-000002-new", [0.8], run_info={"split": {**split, "accepted_suggestions": counted}}
    )
    mixed = {"train": 0, "val": 5, "test": 0}
    _fake_run(
        runs, "20260101-000003-mix", [0.7], run_info={"split": {**split, "accepted_suggestions": mixed}}
    )
    panel.reload_history()
    qtbot.waitUntil(lambda: len(panel.history.records) == 3, timeout=20000)
    rows = {}
    for i in range(3):
        item = panel.history.tree.topLevelItem(i)
        rows[item.text(0)] = (item.text(3), item.toolTip(3))
    assert rows["20260101-000002-new"] == (
        "80.0% (41 by people)",
        "Graded on 41 validation pictures labelled by people. 175 accepted suggestions trained it; "
        "none graded it.",
    )
    assert (
        rows["20260101-000001-old"][0] == "90.0% (41)" and "before accepted" in rows["20260101-000001-old"][1]
    )
    assert rows["20260101-000003-mix"][0] == "70.0% (41, with suggestions)"


def test_settings_round_trip_and_the_augmentation_preview(qtbot, make_panel):
    from cnnstudio.core.train import AugmentConfig, TrainConfig

    panel = make_panel()
    config = TrainConfig(
        optimizer="sgd", lr=0.05, momentum=0.8, schedule="step", step_size=3, early_stopping=True, patience=2,
        monitor="val_accuracy", balance_classes=True, seed=7, precision="full",
        augment=AugmentConfig(hflip=True, rotation=120.0, zoom=0.2),
    )  # fmt: skip
    panel.set_config(config)
    assert panel.config().to_dict() == config.to_dict()  # momentum is not shown, and kept
    assert panel.settings.step_size.isVisibleTo(panel) and panel.settings.patience.isEnabled()
    panel.settings.augment.setChecked(False)
    assert not panel.config().augment.enabled
    panel.settings.augment.setChecked(True)
    panel.settings.lr.setText("abc")
    with pytest.raises(Exception, match="not a number"):
        panel.config()
    assert panel.session.project.train_config["lr"] == 0.05  # a half-typed value is not saved
    qtbot.waitUntil(lambda: panel.preview.shown_count() == 8, timeout=30000)
    qtbot.waitUntil(lambda: bool(panel.settings.precision_hint.text()), timeout=30000)
    assert (
        panel.settings.device.itemData(1) == "cpu"
        and "Automatic uses" in panel.settings.precision_hint.text()
    )
    wait_tasks(qtbot, panel)


def test_the_feed_recovers_each_batch_from_running_means_and_keeps_early_requests():
    class Trainer:
        class config:
            batch_size = 2

        paused = stopped = False

        def pause(self):
            self.paused = True

        def request_stop(self):
            self.stopped = True

    feed = TrainingFeed()
    feed.pause()
    trainer = Trainer()
    feed.attach(trainer)  # a pause asked before the trainer existed applies now
    assert trainer.paused
    feed.on_train_begin({"epochs": 2, "train_images": 5})
    losses, seen, total = [1.0, 3.0, 5.0], [2, 4, 5], 0.0
    for b, (loss, n) in enumerate(zip(losses, seen, strict=True)):
        total += loss * (n - (seen[b - 1] if b else 0))
        feed.on_batch_end(
            b, {"epoch": 0, "batch": b, "batches": 3, "loss": total / n, "accuracy": 0.5, "lr": 0.1}
        )
    update = feed.drain()
    assert [round(p.loss, 9) for p in update.batches] == losses
    assert [p.x for p in update.batches] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert feed.drain().empty
    feed.request_stop(abandon=True)
    assert trainer.stopped
    with pytest.raises(Abandoned):  # the window is closing: skip what follows training
        feed.on_train_end({"status": "stopped"})


def test_long_runs_are_decimated_to_a_bounded_number_of_points():
    series = DecimatingSeries(max_points=100)
    n = 1_000_000 // 50
    for i in range(n):
        series.append(i, float(i % 10))
    x, y = series.data()
    assert series.count == n and len(x) <= 200 and len(x) == len(y)
    assert x[0] < 200 and x[-1] > n - 200  # the whole run is covered
    assert y.mean() == pytest.approx(4.5, abs=0.1)  # means, not samples: no aliasing of the noise
    smooth = Smoother(0.9)
    assert smooth(2.0) == 2.0  # bias-corrected: the first value is itself
    assert math.isnan(smooth(math.nan)) and smooth(2.0) == pytest.approx(2.0)


def test_a_design_that_cannot_work_blocks_start_with_the_designers_message(qtbot, make_panel):
    from cnnstudio.core.spec import Conv2D, ModelSpec

    panel = make_panel()
    spec = ModelSpec.from_dict(panel.session.project.spec)
    panel.session.project.spec = spec.insert_layer(1, Conv2D(8, 40)).to_dict()  # a 40x40 kernel on 32x32
    panel.section_shown()
    assert not panel.start_button.isEnabled()
    assert "cannot be trained" in panel.notice.text() and "Model section" in panel.notice.text()
    assert not panel.start()
    panel.session.project.spec = spec.to_dict()
    panel.section_shown()
    assert panel.start_button.isEnabled() and not panel.notice.isVisible()
    wait_tasks(qtbot, panel)


def test_overlays_keep_their_own_colours_name_each_run_and_never_redraw_the_live_run(qtbot):
    from PySide6.QtGui import QColor

    from cnnstudio.gui.train.plots import TRAIN_COLOR, VAL_COLOR, TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.add_epochs([{"epoch": e, "loss": 1 - e / 10, "val_loss": 1.1 - e / 10} for e in range(3)])
    plots.set_live_name("20260101-000002-new")
    curves = {
        "x": [1, 2],
        "loss": [0.9, 0.8],
        "val_loss": [1.0, 0.9],
        "accuracy": [0.5, 0.6],
        "val_accuracy": [0.4, 0.5],
    }
    plots.set_overlays([("20260101-000002-new", curves), ("20260101-000001-old", curves)])
    assert list(plots.overlays) == ["20260101-000001-old"]  # the live run is not drawn again
    live = {QColor(TRAIN_COLOR).name(), QColor(VAL_COLOR).name()}
    for _plot, item in plots.overlays["20260101-000001-old"]:
        assert item.opts["pen"].color().name() not in live
        assert item.zValue() < plots.curves["val_loss"].zValue()  # under the live curves
    labels = [label.text for _sample, label in plots.loss_plot.legend.items]
    assert "new (00:00): validation" in labels and "new (00:00): training" in labels  # short names
    assert "old (00:00): validation" in labels and "old (00:00): training" in labels
    plots.set_overlays([])
    labels = [label.text for _sample, label in plots.loss_plot.legend.items]
    assert "validation" in labels and not any("old" in text for text in labels)


def test_the_learning_rate_axis_is_labelled_at_powers_of_ten_before_training(qtbot):
    from cnnstudio.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.refresh(force=True)
    ticks = plots.lr_plot.getAxis("left")._tickLevels
    assert ticks is not None and [text for _v, text in ticks[0]] == ["0.0001", "0.001", "0.01"]
