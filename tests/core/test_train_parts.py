"""The Trainer's parts that own their state: the EpochLoop (the position in training), the RunState
(records and the run folder; checkpoint saving as a callback) and EarlyStopping (a callback)."""

from __future__ import annotations

import json

import pytest
import torch
from test_train_support import CLASSES, StandInPreprocessing, quick_config, same_weights, tiny_data, tiny_net

from cnnstudio.core.runs import read_metrics
from cnnstudio.core.train import Callback, Trainer, read_weights
from cnnstudio.core.train.checkpoints import load_last, model_state_float32
from cnnstudio.core.train.monitor import EarlyStopping


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("parts") / "data", per_class=8)


def make(run_dir=None, callbacks=(), **config) -> Trainer:
    return Trainer(
        tiny_net(),
        quick_config(**config),
        class_names=CLASSES,
        preprocessing=StandInPreprocessing(),
        run_dir=run_dir,
        callbacks=callbacks,
    )


class LooksAtTheRunFolder(Callback):
    """What a given callback finds in the run folder when its on_epoch_end is called."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.seen: list[dict] = []

    def on_epoch_end(self, epoch, logs):
        weights, state = load_last(self.run_dir)
        best_weights, best_meta = read_weights(self.run_dir / "best.safetensors")
        self.seen.append(
            {
                "epoch": epoch,
                "checkpoint_epoch": state["epoch"],
                "checkpoint_logs": len(state["epoch_logs"]),
                "checkpoint_is_the_model": same_weights(weights, model_state_float32(self.trainer.model)),
                "best_epoch": int(best_meta["epoch"]),
                "state_json": json.loads((self.run_dir / "state.json").read_text()),
                "metrics_epochs": [r["epoch"] for r in read_metrics(self.run_dir) if r["kind"] == "epoch"],
                "history_best": self.trainer.history.best_epoch,
            }
        )


def test_the_given_callbacks_find_each_epoch_already_saved(data, tmp_path):
    # checkpoint saving is a callback too: it runs before the given ones, so the GUI (which reads
    # the run folder on its epoch signal) never sees the previous epoch's files
    looker = LooksAtTheRunFolder(tmp_path)
    history = make(tmp_path, [looker], epochs=3).fit(data, data)
    assert history.status == "finished" and [s["epoch"] for s in looker.seen] == [0, 1, 2]
    for seen in looker.seen:
        done = seen["epoch"] + 1
        assert seen["checkpoint_epoch"] == done and seen["checkpoint_logs"] == done
        assert seen["checkpoint_is_the_model"]
        assert seen["state_json"]["epochs_done"] == done and seen["state_json"]["status"] == "running"
        assert seen["metrics_epochs"] == list(range(done))
        assert seen["best_epoch"] == seen["history_best"] == seen["state_json"]["best"]["epoch"]


def test_early_stopping_is_a_callback_whose_state_resumes():
    logs = [0.9, 0.5, 0.6, 0.55, 0.7, 0.8]  # val_loss: best at epoch 1, no better after it
    whole = EarlyStopping("min", patience=3, min_delta=0.0)
    whole.monitor = "val_loss"
    triggered = []
    for epoch, value in enumerate(logs):
        whole.on_epoch_end(epoch, {"val_loss": value})
        triggered.append(whole.triggered)
    assert triggered == [False, False, False, False, True, True]

    # stopped after epoch 2 and resumed from the saved state: the same epoch triggers it
    first = EarlyStopping("min", patience=3, min_delta=0.0)
    first.monitor = "val_loss"
    for epoch, value in enumerate(logs[:3]):
        first.on_epoch_end(epoch, {"val_loss": value})
    second = EarlyStopping("min", patience=3, min_delta=0.0)
    second.monitor = "val_loss"
    second.load_state_dict(first.state_dict())
    resumed = []
    for epoch, value in enumerate(logs[3:], start=3):
        second.on_epoch_end(epoch, {"val_loss": value})
        resumed.append(second.triggered)
    assert resumed == triggered[3:]
    assert (second.value, second.epoch, second.wait) == (0.5, 1, whole.wait)


def test_the_loop_owns_its_position_and_the_checkpoint_holds_it(data, tmp_path):
    class StopInSecondEpoch(Callback):
        def on_batch_end(self, batch, logs):
            if logs["epoch"] == 1 and batch == 1:
                self.trainer.request_stop()

    trainer = make(tmp_path, [StopInSecondEpoch()], epochs=3)
    assert trainer.fit(data).status == "stopped"
    position = trainer.loop.state_dict()
    assert (position["epoch"], position["batch"]) == (1, 2) and trainer.epoch == 1
    assert position["partial"]["seen"] == 16 and len(position["order"]) == len(data[1])

    _, state = load_last(tmp_path)
    assert (state["epoch"], state["batch"]) == (1, 2)
    assert torch.equal(state["order"], position["order"]) and state["partial"] == position["partial"]

    resumed = Trainer.resume_run(tmp_path, model=tiny_net())
    assert resumed.loop.state_dict()["batch"] == 2 and torch.equal(resumed.loop.order, position["order"])
    assert resumed.fit(data).status == "finished" and resumed.loop.state_dict() == {
        "epoch": 3,
        "batch": 0,
        "order": None,
        "partial": None,
    }


def test_without_a_run_folder_the_records_stay_in_memory(data, tmp_path):
    trainer = make(epochs=2)
    history = trainer.fit(data, data)
    assert history is trainer.run.history and len(history.epochs) == 2
    assert [r["epoch"] for r in trainer.run.rows if r["kind"] == "epoch"] == [0, 1]
    assert trainer.run.seq == 0  # nothing written
    assert same_weights(trainer.run.last_good, model_state_float32(trainer.model))
    assert not any(tmp_path.iterdir())
