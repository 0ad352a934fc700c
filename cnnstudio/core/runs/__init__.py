"""Runs: one home for what a run folder holds and what a project's runs are.

runs/<YYYYmmdd-HHMMSS>-<label>/ holds config.json, state.json, metrics.csv, best.safetensors,
last.safetensors and last_optimizer.pt (the file names are the constants below).

- files: the file names; reading and writing config/state/metrics atomically; whether a run's
  process still lives (`pid_alive`, `training_alive`: also a run another computer trains).
- records: the run history as data (`RunRecord`, `load_run`, `list_runs`, `read_curves`), a run's
  state and title in words (`run_state`, `run_title`), its settings line; `refuse_if_training`
  before a run is resumed or trained further.
- trained: the runs with weights (`run_folders`, `trained_runs`, `find_run`, `best_finished_run`),
  a run described for a chooser, its saved evaluation, which model of it is evaluated.

No torch and no Qt: the GUI lists runs on its own thread.
"""

from __future__ import annotations

from cnnstudio.core.runs.files import (
    BEST_WEIGHTS,
    CONFIG_FILE,
    LAST_WEIGHTS,
    METRIC_COLUMNS,
    METRICS_FILE,
    OTHER_COMPUTER_SILENCE,
    PREV_TRAIN_STATE,
    STATE_FILE,
    TRAIN_STATE,
    WEIGHT_FILES,
    library_versions,
    metrics_at_checkpoint,
    new_run_dir,
    note_resume,
    other_computer,
    pid_alive,
    read_json,
    read_json_object,
    read_metrics,
    training_alive,
    write_config,
    write_metrics,
    write_state,
)
from cnnstudio.core.runs.records import (
    STATES,
    RunRecord,
    kept_epoch_logs,
    kept_val_accuracy,
    list_runs,
    load_run,
    read_curves,
    refuse_if_training,
    run_state,
    run_title,
    settings_summary,
)
from cnnstudio.core.runs.trained import (
    ModelState,
    RunChoice,
    best_finished_run,
    describe_run,
    find_run,
    has_weights,
    model_state,
    run_folders,
    run_summary,
    saved_evaluation,
    trained_runs,
    weights_stamp,
    weights_time,
)

__all__ = [
    "BEST_WEIGHTS",
    "CONFIG_FILE",
    "LAST_WEIGHTS",
    "METRICS_FILE",
    "OTHER_COMPUTER_SILENCE",
    "METRIC_COLUMNS",
    "PREV_TRAIN_STATE",
    "STATES",
    "STATE_FILE",
    "TRAIN_STATE",
    "WEIGHT_FILES",
    "ModelState",
    "RunChoice",
    "RunRecord",
    "best_finished_run",
    "describe_run",
    "find_run",
    "has_weights",
    "kept_epoch_logs",
    "kept_val_accuracy",
    "library_versions",
    "list_runs",
    "load_run",
    "metrics_at_checkpoint",
    "model_state",
    "new_run_dir",
    "note_resume",
    "other_computer",
    "pid_alive",
    "read_curves",
    "read_json",
    "read_json_object",
    "read_metrics",
    "refuse_if_training",
    "run_folders",
    "run_state",
    "run_summary",
    "run_title",
    "saved_evaluation",
    "settings_summary",
    "trained_runs",
    "training_alive",
    "weights_stamp",
    "weights_time",
    "write_config",
    "write_metrics",
    "write_state",
]
