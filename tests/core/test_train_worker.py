"""core/train/worker.py: several-process training starts from core alone. Two Gloo CPU processes
train a tiny project for one epoch through `python -m cnnstudio.core.train.worker JOB.json` in a
Python where `cnnstudio.cli` cannot be imported at all; and core holds no command that starts the
command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnnstudio

ROOT = Path(__file__).resolve().parents[2]

# Loaded at start-up by every Python that has this folder on its path (the launcher and both
# training processes): importing the command line fails there.
NO_CLI = """
import importlib.abc
import sys


class NoCommandLine(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "cnnstudio.cli" or name.startswith("cnnstudio.cli."):
            raise ImportError(f"{name} must not be imported by core's several-process training")
        return None


sys.meta_path.insert(0, NoCommandLine())
"""

# `-m cnnstudio` followed by anything but a core module: a command line of the CLI
CLI_COMMAND = re.compile(r"""-m["',\s]+cnnstudio(?!\.core\.)""")


@pytest.mark.skipif(sys.platform == "win32", reason="Gloo on Windows is not what we ship")
def test_two_processes_train_from_core_without_the_command_line(tmp_path, tiny_image_folder):
    from cnnstudio.core.pipeline import open_or_create_project, prepare_data
    from cnnstudio.core.runs import new_run_dir
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import AugmentConfig, TrainConfig
    from cnnstudio.core.train.worker import WorkerJob

    project = open_or_create_project(tiny_image_folder(classes=2, per_class=6, size=24), tmp_path / "proj")
    spec = template("tiny")
    prepare_data(project, spec)  # the decode cache, as train_in_processes fills it first
    config = TrainConfig(epochs=1, batch_size=4, device="cpu", augment=AugmentConfig.none())
    run_dir = new_run_dir(project.runs_dir, "tiny")
    job = WorkerJob(
        project=str(project.folder),
        spec_file=str(tmp_path / "design.json"),
        config_file=str(tmp_path / "config.json"),
        nproc=2,
        run_folder=run_dir.name,
        outcome=str(tmp_path / "outcome.json"),
    )
    spec.save(job.spec_file)
    Path(job.config_file).write_text(json.dumps(config.to_dict()), encoding="utf-8")
    job.save(tmp_path / "job.json")
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_CLI, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(guard), str(ROOT)])}

    # the guard works: the command line cannot be imported in such a Python
    probe = subprocess.run(
        [sys.executable, "-c", "import cnnstudio.cli"], env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode != 0 and "must not be imported" in probe.stderr

    done = subprocess.run(
        job.command(tmp_path / "job.json"), env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "outcome.json").read_text(encoding="utf-8")) == {}
    state = json.loads((run_dir / "state.json").read_text(encoding="utf-8"))
    assert state["status"] == "finished" and state["epochs_done"] == 1
    saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert saved["distributed"]["world_size"] == 2 and saved["distributed"]["backend"] == "gloo"
    assert (run_dir / "best.safetensors").exists()
    assert [p.name for p in project.runs_dir.iterdir()] == [run_dir.name]  # its own folder, no other


def test_a_job_file_round_trips_and_names_no_command_line_argument(tmp_path):
    from cnnstudio.core.train.worker import MODULE, WorkerJob

    job = WorkerJob("p", "s.json", "c.json", nproc=3, resume="run-1", init_from="m.cnnmodel", epochs=7)
    job.save(tmp_path / "job.json")
    assert WorkerJob.load(tmp_path / "job.json") == job
    command = job.command(tmp_path / "job.json")
    assert command[1:] == ["-m", MODULE, str(tmp_path / "job.json")]
    assert not any(arg.startswith("--") for arg in command)


def test_core_starts_no_command_line_command():
    core = Path(cnnstudio.__file__).parent / "core"
    found = [
        f"{path.relative_to(core)}: {match.group(0)!r}"
        for path in sorted(core.rglob("*.py"))
        for match in CLI_COMMAND.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
    # the check can fail: the command core used to build, in both spellings
    assert CLI_COMMAND.search('[sys.executable, "-m", "cnnstudio", "train"]')
    assert CLI_COMMAND.search("python -m cnnstudio train PROJECT")
    assert not CLI_COMMAND.search('[sys.executable, "-m", "cnnstudio.core.train.worker", job]')
