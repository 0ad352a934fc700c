"""`cnnstudio train --nproc 2`: real 2-process distributed (Gloo, CPU) training through torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnstudio.core.runs import read_metrics

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the tests find processes through /proc")


def cnnstudio(*argv, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-m", "cnnstudio", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def train_args(data: Path, project: Path, epochs: int, *extra) -> list:
    return [
        "train",
        data,
        "--project",
        project,
        "--template",
        "tiny",
        "--epochs",
        epochs,
        "--batch-size",
        8,
        "--augment",
        "none",
        *extra,
    ]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    from image_fixtures import write_tiny_image_folder

    root = tmp_path_factory.mktemp("ddp")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=12, size=24)
    code, out, err = finish(cnnstudio(*train_args(data, root / "proj", 2, "--nproc", 2, "--json")))
    assert code == 0, err
    return data, root / "proj", json.loads(out), err


def test_two_processes_make_one_run_that_rank0_writes(ddp_run):
    _data, project, result, err = ddp_run
    runs = sorted((project / "runs").iterdir())
    assert [r.name for r in runs] == [result["run"]]  # one run folder, its id shared by both processes
    run = runs[0]
    for name in ("config.json", "state.json", "metrics.csv", "best.safetensors", "last.safetensors"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["distributed"] == {
        "world_size": 2,
        "processes_per_node": 2,
        "nodes": 1,
        "backend": "gloo",
        "batch_size_per_process": 8,
        "batch_size_total": 16,
    }
    assert config["images"]["train"] == 24 and config["images"]["val"] == 6
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "finished" and state["epochs_done"] == 2
    # progress is printed once (rank 0), not once per process
    assert err.count("Epoch 2/2") == 1 and "2 processes (gloo)" in err
    epochs = [r for r in read_metrics(run) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    for row in epochs:
        # accuracy over all 24 training images (12 per process): a whole number of 24ths
        assert abs(row["accuracy"] * 24 - round(row["accuracy"] * 24)) < 1e-6
        assert 0 < row["loss"] < 5 and 0 <= row["val_accuracy"] <= 1
        # the validation accuracy over all 6 images (3 per process), reduced
        assert abs(row["val_accuracy"] * 6 - round(row["val_accuracy"] * 6)) < 1e-6
    assert result["val"]["images"] == 6 and result["test"]["images"] == 6


def test_a_distributed_run_resumes_with_its_id(ddp_run):
    data, project, result, _err = ddp_run
    code, out, err = finish(
        cnnstudio(*train_args(data, project, 3, "--nproc", 2, "--resume", result["run"], "--json"))
    )
    assert code == 0, err
    again = json.loads(out)
    assert again["run"] == result["run"]
    assert [e["epoch"] for e in again["epochs"]] == [0, 1, 2]
    assert again["epochs"][:2] == result["epochs"]  # the first two epochs are kept, not redone
    run = project / "runs" / result["run"]
    config = json.loads((run / "config.json").read_text())
    assert config["resumes"][-1]["distributed"]["world_size"] == 2
    assert config["train"]["epochs"] == 3
    assert [r["epoch"] for r in read_metrics(run) if r["kind"] == "epoch"] == [0, 1, 2]
    assert len(list((project / "runs").iterdir())) == 1


def _descendants(pid: int) -> list[int]:
    """Every process started by `pid` (the launcher, and the training processes it started)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, of in parents.items() if of == parent]
        out += children
        todo += children
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


def test_a_process_that_dies_stops_the_others_with_a_message_naming_it(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=3, per_class=12, size=24)
    proc = cnnstudio(*train_args(data, tmp_path / "proj", 100000, "--nproc", 2))
    try:
        deadline = time.monotonic() + 120
        victim = None
        while time.monotonic() < deadline and victim is None:
            states = list((tmp_path / "proj" / "runs").glob("*/state.json"))
            if states and json.loads(states[0].read_text() or "{}").get("epochs_done", 0) >= 1:
                victim = next((p for p in _descendants(proc.pid) if _rank_of(p) == 1), None)
            time.sleep(0.2)
        assert victim is not None, "the two processes never started training"
        os.kill(victim, signal.SIGKILL)
        code, _out, err = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code != 0
    assert "Training process 1 of 2 was killed (SIGKILL)" in err, err
    assert "continue it with --resume" in err
    assert "Traceback" not in err, err


def test_ctrl_c_stops_every_process_and_keeps_the_checkpoint(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=3, per_class=12, size=24)
    # its own process group, as a terminal's foreground job: Ctrl+C sends SIGINT to all of it
    proc = cnnstudio(*train_args(data, tmp_path / "proj", 100000, "--nproc", 2), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        state_file = None
        while time.monotonic() < deadline:
            states = list((tmp_path / "proj" / "runs").glob("*/state.json"))
            if states and json.loads(states[0].read_text() or "{}").get("epochs_done", 0) >= 1:
                state_file = states[0]
                break
            time.sleep(0.2)
        assert state_file is not None, "the two processes never started training"
        children = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        code, _out, err = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    assert "every training process was stopped" in err
    assert err.count("Stopped.") == 1  # rank 0 says it; rank 1 stays quiet
    assert "Traceback" not in err, err
    assert not [p for p in children if Path(f"/proc/{p}").exists() and _rank_of(p) is not None]
    state = json.loads(state_file.read_text())
    assert state["status"] == "stopped" and state["epochs_done"] >= 1


def test_torchrun_started_by_hand_runs_the_train_command_in_each_process(tmp_path, tiny_image_folder):
    """The README's several-computer way, here on one: torchrun itself starts `-m cnnstudio train`."""
    data = tiny_image_folder(classes=3, per_class=8, size=24)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*torchrun, "-m", "cnnstudio", *map(str, train_args(data, tmp_path / "proj", 1, "--json"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # rank 0 alone prints the report
    assert [r.name for r in (tmp_path / "proj" / "runs").iterdir()] == [result["run"]]
    config = json.loads((tmp_path / "proj" / "runs" / result["run"] / "config.json").read_text())
    assert config["distributed"]["world_size"] == 2
    assert [e["epoch"] for e in result["epochs"]] == [0] and result["val"]["images"] > 0
    assert done.stderr.count("Epoch 1/1") == 1 and "2 processes (gloo)" in done.stderr
