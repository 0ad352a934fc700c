"""Run folders: files, atomic checkpoints, weights-only training state, resume after a stop or a
kill -9, bf16 runs, and loading a run's weights back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_support import (
    CLASSES,
    StandInPreprocessing,
    quick_config,
    same_weights,
    tiny_data,
    tiny_net,
    weights_of,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import new_run_dir, read_metrics
from cnnstudio.core.train import Callback, Trainer, load_run_weights, read_weights
from cnnstudio.core.train import device as device_module
from cnnstudio.core.train.checkpoints import load_last

PREP = StandInPreprocessing()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("runs") / "data", per_class=8)


def make(run_dir, callbacks=(), model=None, **config) -> Trainer:
    return Trainer(
        model if model is not None else tiny_net(dropout=0.2),
        quick_config(**config),
        class_names=CLASSES,
        preprocessing=PREP,
        run_dir=run_dir,
        callbacks=callbacks,
        run_info={"dataset_manifest_hash": "abc123", "split": {"seed": 0}},
    )


class StopAt(Callback):
    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, batch, logs):
        if (logs["epoch"], batch) == self.at:
            self.trainer.request_stop()


def test_new_run_dir_is_named_by_time_and_label_and_unique(tmp_path):
    a = new_run_dir(tmp_path / "runs", "Seed CNN / try")
    b = new_run_dir(tmp_path / "runs", "Seed CNN / try")
    assert re.fullmatch(r"\d{8}-\d{6}-Seed-CNN-try", a.name)
    assert a != b and a.is_dir() and b.is_dir() and b.name.startswith(a.name)


def test_a_run_folder_has_every_file(data, tmp_path):
    trainer = make(tmp_path, epochs=2)
    trainer.fit(data, data)
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "config.json",
        "metrics.csv",
        "state.json",
        "last.safetensors",
        "best.safetensors",
        "last_optimizer.pt",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train"]["epochs"] == 2 and config["seed"] == 0 and config["class_names"] == CLASSES
    assert config["run_info"]["dataset_manifest_hash"] == "abc123" and config["spec"] is None
    assert set(config["versions"]) >= {"torch", "torchvision", "numpy", "python"}
    assert config["precision"] == "float32" and config["device"] == "cpu"
    state = json.loads((tmp_path / "state.json").read_text())
    assert (
        state["status"] == "finished" and state["epochs_done"] == 2 and state["best"]["monitor"] == "val_loss"
    )
    rows = read_metrics(tmp_path)
    assert [r["kind"] for r in rows] == ["batch"] * 3 + ["epoch"] + ["batch"] * 3 + ["epoch"]
    assert rows[3]["val_loss"] is not None and rows[3]["epoch"] == 0


def test_batch_rows_are_thinned_to_about_fifty_an_epoch(data, tmp_path):
    make(tmp_path, epochs=1, batch_size=1).fit(data)  # 24 images -> 24 batches, all logged
    rows = read_metrics(tmp_path)
    assert sum(r["kind"] == "batch" for r in rows) == 24
    X, y = data
    big = (np.concatenate([X] * 5), np.concatenate([y] * 5))  # 120 batches -> every 3rd
    make(tmp_path / "big", epochs=1, batch_size=1).fit(big)
    batch_rows = [r for r in read_metrics(tmp_path / "big") if r["kind"] == "batch"]
    assert 30 <= len(batch_rows) <= 50 and batch_rows[-1]["batch"] == 119


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "one_cycle", "plateau"])
def test_training_state_loads_with_weights_only(data, tmp_path, schedule):
    make(tmp_path, epochs=1, schedule=schedule, optimizer="sgd").fit(data, data)
    with open(tmp_path / "last_optimizer.pt", "rb") as f:
        state = torch.load(f, weights_only=True)
    assert state["epoch"] == 1 and "optimizer" in state and "rng" in state
    assert (state["schedule"] is None) == (schedule == "constant")


@pytest.mark.parametrize("precision", ["full", "fast"])
def test_checkpoints_are_float32_whatever_the_precision(data, tmp_path, precision):
    trainer = make(tmp_path, epochs=1, precision=precision)
    trainer.fit(data, data)
    assert trainer.precision.name == ("float32" if precision == "full" else "bf16")
    for name in ("last.safetensors", "best.safetensors"):
        weights, _ = read_weights(tmp_path / name)
        assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float32}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


@pytest.mark.parametrize("precision", ["full", "fast"])
def test_a_stopped_run_resumes_to_the_same_weights_as_an_unbroken_one(data, tmp_path, precision):
    unbroken = make(tmp_path / "a", epochs=3, precision=precision)
    unbroken.fit(data, data)
    stopped = make(tmp_path / "b", callbacks=[StopAt(1, 1)], epochs=3, precision=precision)
    assert stopped.fit(data, data).status == "stopped"
    history = Trainer.resume_run(tmp_path / "b", data, data, model=tiny_net(dropout=0.2), preprocessing=PREP)
    assert history.status == "finished" and len(history.epochs) == 3
    assert same_weights(weights_of(unbroken.model), weights_of(history_model(tmp_path / "b")))
    assert [e["loss"] for e in history.epochs] == [e["loss"] for e in unbroken.history.epochs]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["resumes"][0]["epoch"] == 1
    rows = read_metrics(tmp_path / "b")
    assert [r["kind"] for r in rows] == (["batch"] * 3 + ["epoch"]) * 3


def history_model(run_dir):
    model, _, _, _ = load_run_weights(run_dir, "last", model=tiny_net(dropout=0.2))
    return model


def test_resume_run_without_data_returns_the_trainer(data, tmp_path):
    make(tmp_path, callbacks=[StopAt(0, 1)], epochs=2).fit(data)
    trainer = Trainer.resume_run(tmp_path, model=tiny_net(dropout=0.2), preprocessing=PREP)
    assert isinstance(trainer, Trainer) and trainer.epoch == 0 and trainer.loop.batch == 2
    assert trainer.fit(data).status == "finished" and trainer.epoch == 2


def test_a_run_from_code_needs_its_model_to_resume(data, tmp_path):
    make(tmp_path, epochs=1).fit(data)
    with pytest.raises(UserError, match="pass that model"):
        Trainer.resume_run(tmp_path, data)
    with pytest.raises(UserError, match="pass that model"):
        load_run_weights(tmp_path)


def test_a_kill_between_the_checkpoint_renames_still_resumes(data, tmp_path):
    make(tmp_path, epochs=2).fit(data)
    older = (tmp_path / "last.safetensors").read_bytes()
    make(tmp_path / "x", epochs=1).fit(data)
    # the state of epoch 2 moved in, the weights of epoch 2 did not: pair last with .prev
    _, prev_state = load_last(tmp_path)
    os.replace(tmp_path / "last_optimizer.pt", tmp_path / "last_optimizer.prev.pt")
    torch.save({**prev_state, "seq": 999}, tmp_path / "last_optimizer.pt")
    (tmp_path / "last.safetensors").write_bytes(older)
    weights, state = load_last(tmp_path)
    assert state["seq"] == prev_state["seq"]


def test_load_run_weights_rebuilds_a_spec_run(tmp_path):
    from cnnstudio.core.spec import template

    spec = template("tiny")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    y = np.arange(12) % 3
    trainer = Trainer(
        spec,
        quick_config(epochs=1),
        class_names=CLASSES,
        preprocessing=spec.preprocessing(),
        run_dir=tmp_path,
    )
    trainer.fit((X, y), (X, y))
    model, spec_dict, prep, names = load_run_weights(tmp_path)
    assert not model.training and spec_dict == spec.to_dict() and names == CLASSES
    assert prep == spec.preprocessing().to_dict()
    best, _ = read_weights(tmp_path / "best.safetensors")
    assert same_weights(best, weights_of(model))
    # and it resumes from its folder alone (no model, no preprocessing given)
    resumed = Trainer.resume_run(tmp_path)
    resumed.config.epochs = 2
    assert resumed.fit((X, y), (X, y)).status == "finished" and resumed.epoch == 2


_CHILD = """
import sys, time, numpy as np
sys.path[:0] = [{tests!r}, {core!r}]
from test_train_support import CLASSES, StandInPreprocessing, quick_config, tiny_net
from cnnstudio.core.train import Callback, Trainer

class Slow(Callback):
    def on_epoch_end(self, epoch, logs):
        time.sleep(30 if epoch >= 1 else 0)

data = np.load({data!r})
trainer = Trainer(tiny_net(dropout=0.2), quick_config(epochs=4), class_names=CLASSES,
                  preprocessing=StandInPreprocessing(), run_dir={run!r}, callbacks=[Slow()])
trainer.fit((data["X"], data["y"]), (data["X"], data["y"]))
"""


def test_a_run_killed_with_sigkill_resumes_and_finishes(data, tmp_path):
    X, y = data
    np.savez(tmp_path / "data.npz", X=X, y=y)
    run = tmp_path / "run"
    run.mkdir()
    code = _CHILD.format(
        tests=str(ROOT / "tests"),
        core=str(ROOT / "tests" / "core"),
        data=str(tmp_path / "data.npz"),
        run=str(run),
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = run / "state.json"
            if state.exists() and json.loads(state.read_text()).get("epochs_done", 0) >= 2:
                break
            assert child.poll() is None, "the training process ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint after 60 s")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert json.loads((run / "state.json").read_text())["status"] == "running"  # killed: never said otherwise
    history = Trainer.resume_run(run, data, data, model=tiny_net(dropout=0.2), preprocessing=PREP)
    assert history.status == "finished" and len(history.epochs) == 4
    unbroken = make(tmp_path / "unbroken", epochs=4)
    unbroken.fit(data, data)
    assert same_weights(weights_of(unbroken.model), weights_of(history_model(run)))
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "finished" and state["epochs_done"] == 4


def test_a_run_another_computer_trains_counts_as_running_until_it_falls_silent(data, tmp_path):
    # A project folder shared by several computers: a run training on another one cannot be asked
    # whether it lives; it is "running" (not "interrupted", not resumable here) for a day of silence.
    from cnnstudio.core.runs import (
        OTHER_COMPUTER_SILENCE,
        load_run,
        model_state,
        refuse_if_training,
        run_state,
    )

    make(tmp_path, epochs=1).fit(data)
    path = tmp_path / "state.json"
    state = json.loads(path.read_text())
    assert state["host"] and state["pid"] == os.getpid()
    away = {**state, "status": "running", "host": "lab-pc-7", "pid": 1, "updated": time.time() - 60}
    path.write_text(json.dumps(away))
    record = load_run(tmp_path)
    assert (
        record.state == "running" and record.display_state == "running on lab-pc-7" and not record.can_resume
    )
    assert run_state(away) == "running" and model_state(tmp_path).training
    with pytest.raises(
        UserError, match="being trained right now on the computer lab-pc-7. Continue it there"
    ):
        refuse_if_training(tmp_path)
    path.write_text(json.dumps({**away, "updated": time.time() - OTHER_COMPUTER_SILENCE - 60}))
    assert (
        load_run(tmp_path).state == "interrupted" and run_state(json.loads(path.read_text())) == "interrupted"
    )
    refuse_if_training(tmp_path)  # silent for a day: it may be resumed here
    # This computer's own dead process (and a state.json from before "host" was written) as before.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for mine in ({**state, "host": state["host"]}, {k: v for k, v in state.items() if k != "host"}):
        path.write_text(json.dumps({**mine, "status": "running", "pid": dead.pid}))
        assert load_run(tmp_path).state == "interrupted" and not model_state(tmp_path).training
        refuse_if_training(tmp_path)


def test_bf16_selection_is_recorded_in_the_run(data, tmp_path, monkeypatch):
    monkeypatch.setattr(device_module, "cpu_bf16_feature", lambda: "AVX512-BF16")
    trainer = make(tmp_path, epochs=1, precision="auto")
    assert trainer.precision_label == "bf16 mixed (CPU has AVX512-BF16)"
    trainer.fit(data)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["precision"] == "bf16" and config["precision_label"] == trainer.precision_label
    monkeypatch.setattr(device_module, "cpu_bf16_feature", lambda: None)
    assert make(tmp_path / "f", precision="auto").precision_label.startswith("float32")


@pytest.mark.parametrize("schedule", ["cosine", "one_cycle"])
def test_a_finished_run_can_continue_for_more_epochs(data, tmp_path, schedule):
    make(tmp_path, epochs=1, schedule=schedule).fit(data)
    trainer = Trainer.resume_run(tmp_path, model=tiny_net(dropout=0.2), preprocessing=PREP)
    trainer.config.epochs = 2
    history = trainer.fit(data)
    assert history.status == "finished" and len(history.epochs) == 2
    assert history.epochs[1]["lr"] == history.epochs[0]["lr"]  # stays at the schedule's final rate
