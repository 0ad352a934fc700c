"""core/train/processes.py: the app's several-process training follows its own child's run, even
when another run (a search worker, a CLI training) is made in the same project meanwhile."""

from __future__ import annotations

import json
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="torchrun's launcher needs a POSIX host")


def test_another_run_made_meanwhile_is_not_followed(tmp_path, tiny_image_folder):
    from cnnstudio.core.pipeline import open_or_create_project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import AugmentConfig, TrainConfig
    from cnnstudio.core.train.processes import train_in_processes

    project = open_or_create_project(tiny_image_folder(classes=2, per_class=6, size=24), tmp_path / "proj")
    spec = template("tiny")
    config = TrainConfig(epochs=1, batch_size=4, device="cpu", augment=AugmentConfig.none())
    other = project.runs_dir / "00000000-000000-someone-else"  # sorts before any real run id

    def make_another_run() -> bool:  # called at every poll while the child trains
        if not other.exists():
            other.mkdir(parents=True)
            (other / "config.json").write_text(json.dumps({"train": {"epochs": 99}}), encoding="utf-8")
        return False

    epochs_seen = []

    class Seen:
        def on_epoch_end(self, epoch, logs):
            epochs_seen.append(epoch)

    result = train_in_processes(project, spec, config, 2, callbacks=[Seen()], should_stop=make_another_run)
    assert result.run_dir != other and result.run_dir.parent == project.runs_dir
    assert result.history.status == "finished", result.history.error
    saved = json.loads((result.run_dir / "config.json").read_text(encoding="utf-8"))
    assert saved["distributed"]["world_size"] == 2
    assert len(epochs_seen) == 1 and len(result.history.epochs) == 1
    assert "val" in result.reports  # the child's run was evaluated, not the other one
    assert json.loads((other / "config.json").read_text(encoding="utf-8")) == {"train": {"epochs": 99}}
