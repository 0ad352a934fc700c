"""The Train section during real (tiny) runs: curves fill, pause and stop work, a stopped run resumes,
a failure is shown and the panel stays usable, closing the window asks and saves, a run another
computer took up is not trained here too."""

from __future__ import annotations

import json

import pytest
from gui_helpers import wait_idle
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox
from training_helpers import panel_factory, wait_tasks, wait_trained


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def _state(run_dir) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def test_a_run_fills_the_curves_progress_history_and_saves_the_settings(qtbot, make_panel):
    panel = make_panel(epochs=3)
    started = []
    panel.training_started.connect(started.append)
    assert panel.start()
    assert panel.is_training() and not panel.settings.isEnabled()
    wait_trained(qtbot, panel)
    outcome = panel.last_outcome
    assert outcome.status == "finished", outcome
    assert started and started[0] == str(outcome.run_dir)
    counts = panel.plots.point_counts()
    assert counts["loss"] == counts["val_loss"] == counts["accuracy"] == counts["val_accuracy"] == 3
    assert counts["batch_loss"] == counts["lr"] == 3 * panel.progress.batches  # every batch, 3 epochs
    assert panel.progress.run_bar.format() == "Finished"
    assert "precision" in panel.progress.hardware.text()  # the precision actually used (issue 11), in words
    assert panel.progress.hardware.toolTip().startswith("Precision: ")  # its technical name (issue 23)
    assert (
        "Finished 3 epochs" in panel.notice.text() and "precision." in panel.notice.text().lower()
    )  # in words
    assert panel.advice is not None and panel.advice.code != "waiting"
    assert panel.settings.isEnabled() and panel.start_button.isEnabled()
    wait_tasks(qtbot, panel)
    record = panel.history.records[0]
    assert record.path == outcome.run_dir and record.state == "finished"
    assert record.best_val_accuracy is not None and "3 epochs" in record.summary
    assert panel.session.project.train_config["epochs"] == 3
    assert panel.session.project.train_config["batch_size"] == 4


def test_pause_resume_stop_keeps_a_checkpoint_and_the_run_resumes(qtbot, make_panel):
    panel = make_panel(epochs=40, per_class=10)
    panel.start()
    qtbot.waitUntil(lambda: panel.plots.series["batch_loss"].count > 0, timeout=60000)
    panel.pause_button.click()
    assert panel.state == "paused" and panel.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: panel.worker.feed.trainer.paused, timeout=5000)
    qtbot.wait(400)  # the batch under way when Pause was pressed ends, then nothing moves
    before = panel.plots.series["batch_loss"].count
    qtbot.wait(600)
    assert panel.plots.series["batch_loss"].count == before
    # Paused shows: in the progress bar and in the run list (state.json still says "running").
    assert panel.progress.run_bar.format() == "Paused"
    panel.reload_history()
    live = panel.jobs.live_run.name
    qtbot.waitUntil(lambda: panel.history.record(live) is not None, timeout=20000)
    tree = panel.history.tree
    row = next(
        tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).text(0) == live
    )
    assert row.text(2) == "paused"
    panel.pause_button.click()
    assert panel.state == "training"
    qtbot.waitUntil(lambda: panel.plots.series["batch_loss"].count > before, timeout=10000)
    panel.stop_button.click()
    wait_trained(qtbot, panel)
    outcome = panel.last_outcome
    assert outcome.status == "stopped" and outcome.error is None
    run_dir = outcome.run_dir
    assert (run_dir / "last.safetensors").exists() and (run_dir / "last_optimizer.pt").exists()
    assert _state(run_dir)["status"] == "stopped"
    wait_tasks(qtbot, panel)
    record = panel.history.record(run_dir.name)
    assert record.state == "stopped" and record.can_resume
    panel.history.select([run_dir.name])
    assert panel.history.resume_button.isEnabled()
    done_before = record.epochs_done
    config = panel.config()  # resuming keeps the run's own settings, whatever the form says
    config.epochs = 2
    panel.set_config(config)
    panel.history.resume_button.click()
    qtbot.waitUntil(lambda: len(panel.plots.epochs["x"]) >= done_before, timeout=30000)
    assert panel.plots.epochs["x"][:done_before] == list(range(1, done_before + 1))  # earlier epochs shown
    panel.stop()  # no need to train all 40 epochs
    wait_trained(qtbot, panel)
    assert panel.last_outcome.run_dir == run_dir
    assert _state(run_dir)["epochs"] == 40


def test_a_failure_inside_training_is_shown_and_the_panel_stays_usable(qtbot, make_panel, monkeypatch):
    from cnnstudio.core.train.step import TrainStep

    panel = make_panel(epochs=1)
    errors = []
    panel.session.error.connect(errors.append)

    def broken(self, xb, yb):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(TrainStep, "__call__", broken)
    panel.start()
    wait_trained(qtbot, panel)
    outcome = panel.last_outcome
    assert outcome.status == "crashed"
    assert "injected failure" in panel.notice.text() and panel.notice.property("error")
    assert errors and "injected failure" in errors[0]
    assert _state(outcome.run_dir)["status"] == "crashed"
    assert panel.start_button.isEnabled() and panel.settings.isEnabled()

    monkeypatch.undo()
    assert panel.start()
    wait_trained(qtbot, panel)
    assert panel.last_outcome.status == "finished"
    assert not panel.notice.property("error")

    # Continue the finished run for one more epoch, then fine-tune a new run from it.
    wait_tasks(qtbot, panel)
    record = panel.history.record(panel.last_outcome.run_dir.name)
    assert record.can_continue and record.can_fine_tune
    assert panel.continue_run(record, extra_epochs=1)
    wait_trained(qtbot, panel)
    assert _state(record.path)["epochs_done"] == 2

    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.gui.train.finetune_dialog import FineTuneDialog

    dialog = FineTuneDialog(ModelSpec.from_dict(record.spec), 3, record.name)
    qtbot.addWidget(dialog)
    dialog.freeze_all_but_last()
    spec = dialog.spec()
    trainable = [layer.trainable for layer in spec.layers[1:] if layer.type in ("Conv2D", "Dense")]
    assert trainable[-1] and not any(trainable[:-1])
    dialog._set_all(False)
    assert not dialog.ok_button.isEnabled() and "at least one layer" in dialog.problem.text()
    assert panel.fine_tune(record, spec=spec)
    wait_trained(qtbot, panel)
    tuned = panel.last_outcome.run_dir
    assert panel.last_outcome.status == "finished" and tuned != record.path
    config = json.loads((tuned / "config.json").read_text())
    assert config["init_weights"] and "best.safetensors" in str(config["init_weights"])
    assert [layer["trainable"] for layer in config["spec"]["layers"]] == [
        layer.trainable for layer in spec.layers
    ]


@pytest.mark.parametrize(
    "answer", [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes], ids=["keep training", "stop"]
)
def test_closing_the_main_window_while_training_asks_then_stops_with_a_checkpoint(
    qtbot, tmp_path, tiny_image_folder, monkeypatch, answer
):
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import template
    from cnnstudio.gui.main_window import MainWindow
    from cnnstudio.gui.train.section import TrainSection

    project = Project.create(tmp_path / "proj", tiny_image_folder(classes=3, per_class=10))
    project.spec = template("tiny").to_dict()
    window = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.open_project(project)
    wait_idle(qtbot, window.session)
    panel = window.show_section(2)  # the Train section
    assert isinstance(panel, TrainSection)
    config = panel.config()
    config.epochs, config.batch_size = 200, 4
    panel.set_config(config)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args) or answer)
    panel.start()
    qtbot.waitUntil(lambda: panel.state == "training", timeout=60000)
    window.close()
    assert asked
    if answer == QMessageBox.StandardButton.No:
        assert window.isVisible() and panel.is_training()
        panel.stop_and_wait(30)
        window.session.tasks.cancel_all()
        return
    assert not window.isVisible() and not panel.is_training()
    run_dir = panel.last_outcome.run_dir
    assert _state(run_dir)["status"] == "stopped"
    assert (run_dir / "last.safetensors").exists()
    assert not (run_dir / "evaluation.json").exists()  # closing skips the evaluation after training


def test_a_learning_rate_far_too_high_ends_in_plain_advice(qtbot, make_panel):
    panel = make_panel(epochs=3)
    config = panel.config()
    config.optimizer, config.lr = "sgd", 1e6
    panel.set_config(config)
    panel.start()
    wait_trained(qtbot, panel)
    assert panel.last_outcome.status == "crashed"
    assert "lower learning rate" in panel.notice.text().lower()
    assert panel.advice.code == "nan" and "1e+05 instead of 1e+06" in panel.advice.text


def test_after_the_last_epoch_the_bar_says_the_model_is_being_checked(make_panel):
    from cnnstudio.gui.train.feed import FeedUpdate

    panel = make_panel()
    panel.progress.began({"epochs": 3, "batches": 103})
    logs = {"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7, "seconds": 1.0}
    panel.apply_update(FeedUpdate(epochs=[logs]))
    assert panel.progress.epoch_bar.format().startswith("Batch 0 of 103")
    panel.apply_update(FeedUpdate(end={"status": "finished"}))
    assert "checking the kept model" in panel.progress.run_bar.format()
    assert panel.progress.epoch_bar.format() == "" and panel.progress.epoch_eta.text() == ""


def test_a_run_another_computer_took_up_is_not_trained_here_too(qtbot, make_panel):
    # The run list was read before another computer (a shared project folder) took the run up:
    # "Train more epochs" here says so in words and leaves that computer's state.json alone.
    import time

    panel = make_panel(epochs=1)
    panel.start()
    wait_trained(qtbot, panel)
    wait_tasks(qtbot, panel)
    run_dir = panel.last_outcome.run_dir
    record = panel.history.record(run_dir.name)
    assert record.can_continue
    away = {**_state(run_dir), "status": "running", "host": "lab-pc-7", "pid": 1, "updated": time.time()}
    (run_dir / "state.json").write_text(json.dumps(away))
    assert panel.continue_run(record, 1)
    wait_trained(qtbot, panel)
    assert "is being trained right now on the computer lab-pc-7" in panel.notice.text()
    assert panel.notice.property("error")
    assert _state(run_dir) == away
    wait_tasks(qtbot, panel)
    panel.reload_history()
    wait_tasks(qtbot, panel)
    assert panel.history.record(run_dir.name).display_state == "running on lab-pc-7"
