"""The Train section's "Processes/GPUs" control: absent without several GPUs; with them, a run
trains in several processes (here CPU processes stand in for the GPUs) and fills the same curves."""

from __future__ import annotations

import json

import pytest
from training_helpers import panel_factory, wait_tasks, wait_trained


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def _row_shown(panel) -> bool:
    settings = panel.settings
    return settings._hardware_form.isRowVisible(settings.processes)


def test_the_control_is_absent_here_and_with_two_gpus_trains_in_two_processes(qtbot, make_panel):
    panel = make_panel(epochs=2, per_class=8, batch_size=4)
    wait_tasks(qtbot, panel)  # the look for GPUs has answered
    # (what it found, not torch.cuda here: calling CUDA in the test's main thread made the panel's
    # worker threads abort now and then on this GPU-less machine)
    combo = panel.settings.device
    found = [str(combo.itemData(i)) for i in range(combo.count())]
    if sum(value.startswith("cuda:") for value in found) < 2:
        assert not _row_shown(panel)
        assert panel.settings.process_count() == 1
    # what the look for GPUs reports on a computer with two of them
    panel.settings.set_devices([("GPU: A", "cuda:0"), ("GPU: B", "cuda:1")])
    assert _row_shown(panel) and panel.settings.processes.maximum() == 2
    panel.settings.processes.setValue(2)
    assert panel.settings.process_count() == 2
    config = panel.config()
    config.device = "cpu"  # no GPUs here: two CPU processes (Gloo) take their place
    panel.set_config(config)
    assert panel.start()
    assert not panel.pause_button.isEnabled()  # several processes cannot pause
    wait_trained(qtbot, panel, timeout=180000)
    outcome = panel.last_outcome
    assert outcome.status == "finished", outcome
    counts = panel.plots.point_counts()
    assert counts["loss"] == counts["val_loss"] == 2
    saved = json.loads((outcome.run_dir / "config.json").read_text())
    assert saved["distributed"]["world_size"] == 2
    assert saved["train"]["batch_size"] == 4 and saved["distributed"]["batch_size_total"] == 8
    assert "Finished 2 epochs" in panel.notice.text()
    wait_tasks(qtbot, panel)
    assert panel.history.records[0].path == outcome.run_dir
