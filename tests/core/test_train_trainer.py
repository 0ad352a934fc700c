"""Trainer.fit on tiny real images: learning, callbacks, pause/stop, early stopping, optimizers,
schedules, class weights, frozen layers, determinism, and failures in plain words."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from test_train_support import (
    CLASSES,
    StandInPreprocessing,
    TinyNet,
    quick_config,
    same_weights,
    tiny_data,
    tiny_net,
    weights_of,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.train import AugmentConfig, Callback, Trainer, TrainingFailed, read_weights
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.optim import balanced_class_weights

PREP = StandInPreprocessing()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("train") / "data", per_class=8)


def make(model=None, run_dir=None, callbacks=(), **config) -> Trainer:
    return Trainer(
        model if model is not None else tiny_net(),
        quick_config(**config),
        class_names=CLASSES,
        preprocessing=PREP,
        run_dir=run_dir,
        callbacks=callbacks,
    )


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs):
        self.events.append(("train_begin", logs))

    def on_epoch_begin(self, epoch, logs):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs):
        self.events.append(("batch_end", logs))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch_end", logs))

    def on_train_end(self, logs):
        self.events.append(("train_end", logs))

    def on_exception(self, error):
        self.events.append(("exception", error))

    def names(self):
        return [name for name, _ in self.events]


def test_the_loss_goes_down_and_accuracy_up(data):
    history = make(epochs=6, lr=0.02).fit(data, data)
    first, last = history.epochs[0], history.epochs[-1]
    assert history.status == "finished" and len(history.epochs) == 6
    assert last["loss"] < first["loss"] * 0.8
    assert last["val_accuracy"] > 0.6


def test_callbacks_are_called_in_order_with_their_logs(data):
    rec = Recorder()
    make(callbacks=[rec], epochs=2).fit(data, data)
    per_epoch = ["epoch_begin"] + ["batch_end"] * 3 + ["epoch_end"]
    assert rec.names() == ["train_begin", *per_epoch, *per_epoch, "train_end"]
    batch = rec.events[2][1]
    assert set(batch) == {"epoch", "batch", "batches", "loss", "accuracy", "lr", "images_per_s"}
    assert (batch["epoch"], batch["batch"], batch["batches"], batch["lr"]) == (0, 0, 3, 0.01)
    epoch = rec.events[5][1]
    assert set(epoch) == {
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
        "images_per_s",
    }
    assert epoch["images_per_s"] > 0 and epoch["seconds"] > 0 and 0 <= epoch["val_accuracy"] <= 1
    assert rec.events[-1][1]["status"] == "finished"


def test_a_plain_object_with_some_hooks_is_a_callback(data):
    class OnlyEpochs:
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, epoch, logs):
            self.epochs.append(epoch)

    cb = OnlyEpochs()
    make(callbacks=[cb]).fit(data)
    assert cb.epochs == [0, 1]


def test_pause_and_resume_from_another_thread(data):
    paused, gate = threading.Event(), threading.Event()
    seen = []

    class PauseAtSecondBatch(Callback):
        def on_batch_end(self, batch, logs):
            seen.append((logs["epoch"], batch))
            if len(seen) == 2:
                self.trainer.pause()
                paused.set()

    trainer = make(callbacks=[PauseAtSecondBatch()], epochs=2)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("h", trainer.fit(data)))
    worker.start()
    assert paused.wait(30)
    gate.wait(0.3)  # the worker is parked on an Event: no batch may run meanwhile
    assert len(seen) == 2 and worker.is_alive() and trainer.paused
    trainer.resume()
    worker.join(30)
    assert not worker.is_alive() and result["h"].status == "finished" and len(seen) == 6


def test_stop_keeps_a_checkpoint_of_the_work_done(data, tmp_path):
    class StopInSecondEpoch(Callback):
        def on_batch_end(self, batch, logs):
            if logs["epoch"] == 1 and batch == 0:
                self.trainer.request_stop()

    rec = Recorder()
    trainer = make(run_dir=tmp_path, callbacks=[StopInSecondEpoch(), rec], epochs=3)
    history = trainer.fit(data, data)
    assert (history.status, history.reason) == ("stopped", "user")
    assert "Stopped during epoch 2 after 1 batches" in history.message
    assert len(history.epochs) == 1 and rec.names()[-1] == "train_end"
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["status"] == "stopped" and state["epochs_done"] == 1 and state["batch"] == 1
    saved, _ = read_weights(tmp_path / "last.safetensors")
    assert same_weights(saved, weights_of(trainer.model))


def test_stop_while_paused_wakes_up_and_stops(data):
    trainer = make(epochs=5)

    class PauseThenStop(Callback):
        def on_batch_end(self, batch, logs):
            if batch == 0:
                self.trainer.pause()
                threading.Timer(0.2, self.trainer.request_stop).start()

    trainer.callbacks.append(PauseThenStop())
    history = trainer.fit(data)
    assert history.status == "stopped" and not history.epochs


def test_early_stopping_stops_and_restores_the_best_weights(data, tmp_path):
    X, y = data
    wrong_val = (X, (y + 1) % 3)  # as the model learns the real labels, this loss rises
    trainer = make(run_dir=tmp_path, epochs=10, early_stopping=True, patience=1, min_delta=0.0, lr=0.03)
    history = trainer.fit(data, wrong_val)
    assert history.stopped_early and history.status == "finished"
    assert len(history.epochs) < 10
    best, meta = read_weights(tmp_path / "best.safetensors")
    last, _ = read_weights(tmp_path / "last.safetensors")
    assert int(meta["epoch"]) == history.best_epoch < len(history.epochs) - 1
    assert same_weights(best, weights_of(trainer.model)) and not same_weights(best, last)
    assert "Stopped early" in history.message


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_each_optimizer_trains(data, optimizer):
    extra = {"nesterov": True} if optimizer == "sgd" else {}
    history = make(optimizer=optimizer, epochs=1, weight_decay=1e-4, **extra).fit(data)
    assert history.status == "finished" and np.isfinite(history.epochs[0]["loss"])


@pytest.mark.parametrize(
    ("schedule", "check"),
    [
        ("constant", lambda lrs: lrs == [0.01, 0.01]),
        ("step", lambda lrs: lrs == [0.01, 0.005]),
        ("cosine", lambda lrs: lrs[0] < 0.01 and lrs[1] < 1e-4),
        ("one_cycle", lambda lrs: lrs[1] < lrs[0]),
        ("plateau", lambda lrs: lrs[0] == 0.01),
    ],
)
def test_each_schedule_runs(data, schedule, check):
    rec = Recorder()
    history = make(schedule=schedule, step_size=1, gamma=0.5, callbacks=[rec]).fit(data, data)
    # the epoch log reports the rate in use at the end of the epoch, before an epoch-wise step
    lrs = [e["lr"] for e in history.epochs]
    assert history.status == "finished" and check(lrs), lrs
    batch_lrs = [logs["lr"] for name, logs in rec.events if name == "batch_end"]
    if schedule in ("cosine", "one_cycle"):
        assert len(set(batch_lrs)) == len(batch_lrs)  # stepped every batch


def test_plateau_lowers_the_rate_when_the_monitor_stalls(data):
    X, y = data
    history = make(schedule="plateau", plateau_patience=0, plateau_factor=0.5, epochs=4, lr=0.03).fit(
        data, (X, (y + 1) % 3)
    )
    assert min(e["lr"] for e in history.epochs) < 0.03


def test_class_weights_are_inverse_frequency():
    weights = balanced_class_weights(torch.tensor([6, 2, 2, 0]))
    assert torch.allclose(weights, torch.tensor([10 / 18, 10 / 6, 10 / 6, 1.0]))


def test_balanced_training_on_imbalanced_data(data):
    X, y = data
    keep = np.r_[np.arange(0, 8), 8, 9, 16, 17]  # 8 of class 0, 2 of the others
    trainer = make(balance_classes=True, epochs=1)
    loss_fn = trainer._loss_fn(DeviceData(X[keep], y[keep], torch.device("cpu"), 3))
    assert torch.allclose(loss_fn.weight, torch.tensor([12 / 24, 12 / 6, 12 / 6]))
    assert trainer.fit((X[keep], y[keep])).status == "finished"


def test_frozen_layers_get_no_update(data):
    model = tiny_net()
    frozen = [model.features[0], model.features[1]]  # first conv and its BatchNorm
    for layer in frozen:
        layer.requires_grad_(False)
    before = weights_of(model)
    for optimizer in ("adamw", "sgd"):
        make(model, optimizer=optimizer, weight_decay=0.1, momentum=0.9, epochs=1).fit(data)
    after = weights_of(model)
    for key in ("features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias"):
        assert torch.equal(before[key], after[key]), key
    # a frozen BatchNorm keeps its statistics too (Keras' behaviour)
    assert torch.equal(before["features.1.running_mean"], after["features.1.running_mean"])
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_all_frozen_is_a_user_error(data):
    model = tiny_net().requires_grad_(False)
    with pytest.raises(UserError, match="frozen"):
        make(model).fit(data)


def test_same_seed_same_weights_other_seed_other_weights(data):
    def train(seed):
        model = tiny_net(dropout=0.3)
        make(model, seed=seed, augment=AugmentConfig.default()).fit(data, data)
        return weights_of(model)

    a, b, c = train(1), train(1), train(2)
    assert same_weights(a, b)
    assert not same_weights(a, c)


def test_same_seed_from_a_spec_gives_the_same_weights(data):
    from cnnstudio.core.spec import template

    X, y = data
    X32 = np.ascontiguousarray(np.repeat(np.repeat(X, 2, axis=2), 2, axis=3))  # the Tiny CNN wants 32x32
    spec = template("tiny")
    runs = []
    for _ in range(2):
        trainer = Trainer(
            spec, quick_config(epochs=1), class_names=CLASSES, preprocessing=spec.preprocessing()
        )
        assert trainer.fit((X32, y)).status == "finished"
        runs.append(weights_of(trainer.model))
    assert same_weights(*runs)


class NaNAfter(TinyNet):
    """Gives NaN logits from its `after`-th forward pass on (training batches only)."""

    def __init__(self, after):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, x):
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                return out * float("nan")
        return out


def test_a_nan_loss_stops_with_a_plain_message_and_keeps_the_last_good_checkpoint(data, tmp_path):
    torch.manual_seed(0)
    model = NaNAfter(after=7)  # 3 batches an epoch: the 8th batch is in epoch 3
    rec = Recorder()
    trainer = make(model, run_dir=tmp_path, callbacks=[rec], epochs=5)
    history = trainer.fit(data, data)
    assert (history.status, history.reason) == ("crashed", "unstable")
    assert history.message.startswith(
        "The training went unstable (the loss became NaN) at epoch 3. Try a lower learning rate."
    )
    assert isinstance(history.error, TrainingFailed) and isinstance(history.error, UserError)
    assert rec.names()[-2:] == ["exception", "train_end"] and rec.events[-2][1] is history.error
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["status"] == "crashed" and state["message"] == history.message and state["epochs_done"] == 2
    saved, meta = read_weights(tmp_path / "last.safetensors")
    assert meta["epoch"] == "2" and all(
        torch.isfinite(t).all() for t in saved.values() if t.is_floating_point()
    )
    assert same_weights(saved, weights_of(trainer.model))  # the model is back at the good weights


def test_a_huge_learning_rate_is_caught(data, tmp_path):
    history = make(run_dir=tmp_path, optimizer="sgd", lr=1e10, epochs=3).fit(data)
    assert history.reason == "unstable" and "went unstable" in history.message
    saved, _ = read_weights(tmp_path / "last.safetensors")
    assert all(torch.isfinite(t).all() for t in saved.values() if t.is_floating_point())


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, MemoryError, RuntimeError])
def test_running_out_of_memory_is_a_message_not_a_crash(data, tmp_path, error):
    class Raises(TinyNet):
        def forward(self, x):
            raise error("DefaultCPUAllocator: can't allocate memory: out of memory")

    rec = Recorder()
    history = make(Raises(), run_dir=tmp_path, callbacks=[rec], batch_size=8).fit(data)
    assert history.reason == "out_of_memory" and history.status == "crashed"
    assert history.message.startswith("Not enough memory for batch size 8. Try a smaller batch size.")
    assert isinstance(history.error, UserError) and "exception" in rec.names()
    assert json.loads((tmp_path / "state.json").read_text())["reason"] == "out_of_memory"


def test_an_unexpected_error_is_raised_after_recording_it(data, tmp_path):
    class Broken(Callback):
        def on_epoch_end(self, epoch, logs):
            raise ValueError("boom")

    rec = Recorder()
    with pytest.raises(ValueError, match="boom"):
        make(run_dir=tmp_path, callbacks=[Broken(), rec]).fit(data)
    assert rec.names()[-2:] == ["exception", "train_end"]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["status"] == "crashed" and "boom" in state["message"]


def test_fine_tuning_starts_from_saved_weights(data, tmp_path):
    first = make(run_dir=tmp_path / "a", epochs=1)
    first.fit(data, data)
    second = Trainer(
        tiny_net(seed=5),
        quick_config(epochs=1),
        class_names=CLASSES,
        preprocessing=PREP,
        init_weights=tmp_path / "a",
    )
    best, _ = read_weights(tmp_path / "a" / "best.safetensors")
    assert same_weights(best, weights_of(second.model))


def test_fine_tuning_weights_that_do_not_fit_say_why(data, tmp_path):
    make(run_dir=tmp_path, epochs=1).fit(data)
    with pytest.raises(UserError, match=r"do not fit this model.*head.weight \(saved 3x8, model 5x8\)"):
        Trainer(
            TinyNet(classes=5),
            quick_config(),
            class_names=[*CLASSES, "d", "e"],
            preprocessing=PREP,
            init_weights=tmp_path / "last.safetensors",
        )


def test_labels_beyond_the_classes_are_refused(data):
    X, y = data
    with pytest.raises(UserError, match="labels go up to 5"):
        make().fit((X, np.where(y == 2, 5, y)))


def test_the_specs_l2_penalty_is_part_of_the_loss(data):
    from cnnstudio.core.spec import Conv2D, Dense, GlobalAveragePooling2D, Input, ModelSpec

    X, y = data

    def spec(l2):
        return ModelSpec(
            [
                Input(16, 16, 3),
                Conv2D(8, 3, activation="relu", l2=l2),
                GlobalAveragePooling2D(),
                Dense("auto", l2=l2),
            ]
        )

    def first_loss(l2):
        s = spec(l2)
        trainer = Trainer(
            s, quick_config(epochs=1, lr=1e-6), class_names=CLASSES, preprocessing=s.preprocessing()
        )
        return trainer.fit(data).epochs[0]["loss"]

    plain, penalised = first_loss(0.0), first_loss(10.0)
    assert penalised > plain + 1  # same initial weights (same seed), plus 10 * sum(w**2)


def test_the_cache_is_used_as_uint8_without_a_float_copy(data, tmp_path):
    X, y = data
    held = DeviceData(X, y, torch.device("cpu"), 3)
    assert held.x.dtype == torch.uint8 and held.x.data_ptr() == X.ctypes.data  # shared, not copied
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")  # as the decode cache hands it over
    held = DeviceData(mapped, y, torch.device("cpu"), 3)
    assert held.x.dtype == torch.uint8 and torch.equal(held.x, torch.from_numpy(X))
    assert make(epochs=1).fit((mapped, y), (mapped, y)).status == "finished"
