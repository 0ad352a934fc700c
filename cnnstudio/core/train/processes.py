"""Train a run with several processes: the launcher of core/train/worker.py in a child process
(torchrun's launcher needs a main thread of its own), followed through the run folder. The app and
`cnnstudio train --nproc` both train this way.

The run folder is the child's own: a new run's folder is made here first and named in the job, so
a run that a search worker or a terminal makes in the same project meanwhile is never taken for
it; a resumed run is the folder given.

Rank 0 rewrites metrics.csv at every epoch's checkpoint; `train_in_processes` reads it every half
second and hands the new rows to the usual Keras-style callbacks (on_train_begin, on_batch_end,
on_epoch_end, on_train_end), so the GUI's live curves and the terminal's epoch lines work
unchanged. Stopping sends Ctrl+C (SIGINT) to the child's process group: every process stops and
the last checkpoint stays.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from cnnstudio.core.errors import UserError
from cnnstudio.core.train.worker import ERROR_PREFIX, WorkerJob

POLL_SECONDS = 0.5


def train_in_processes(
    project,
    spec,
    config,
    nproc: int,
    *,
    callbacks=(),
    should_stop=None,
    resume=None,
    init_weights=None,
    epochs: int | None = None,
    data=None,
    show_output: bool = False,
):
    """Like `pipeline.train_project`, with `nproc` processes (one per GPU); returns a TrainingResult.

    `show_output`: the processes write to this process's stderr (a terminal) instead of a file that
    is read for their last words."""
    from cnnstudio.core.pipeline import TrainingResult, evaluate_run, prepare_data
    from cnnstudio.core.runs import (
        CONFIG_FILE,
        STATE_FILE,
        new_run_dir,
        read_json_object,
        read_metrics,
        refuse_if_training,
    )
    from cnnstudio.core.train.callbacks import History
    from cnnstudio.core.train.distributed import processes_backend

    if init_weights is not None and not isinstance(init_weights, (str, Path)):
        raise UserError("Fine-tuning from weights in memory cannot use several processes; choose 1.")
    processes_backend(nproc, config.device)  # too many processes for the GPUs: say so before starting
    if resume is not None:
        refuse_if_training(Path(resume))
    data = data or prepare_data(project, spec)
    run_dir = Path(resume) if resume is not None else new_run_dir(project.runs_dir, spec.name or "run")
    with tempfile.TemporaryDirectory(prefix="cnnstudio-train-") as tmp:
        job = WorkerJob(
            project=str(project.folder),
            spec_file=str(Path(tmp) / "design.json"),
            config_file=str(Path(tmp) / "config.json"),
            nproc=int(nproc),
            run_folder=None if resume is not None else run_dir.name,
            resume=Path(resume).name if resume is not None else None,
            init_from=str(init_weights) if init_weights is not None else None,
            epochs=int(epochs) if epochs is not None else None,
            outcome=str(Path(tmp) / "outcome.json"),
        )
        spec.save(job.spec_file)
        Path(job.config_file).write_text(json.dumps(config.to_dict()), encoding="utf-8")
        job_file = Path(tmp) / "job.json"
        job.save(job_file)
        out_file, err_file = Path(tmp) / "out.txt", Path(tmp) / "err.txt"
        # files, not pipes: nobody reads a pipe while the child runs, and a full one would block it
        with out_file.open("w") as out_f, err_file.open("w") as err_f:
            proc = subprocess.Popen(
                job.command(job_file),
                stdout=None if show_output else out_f,
                stderr=None if show_output else err_f,
                text=True,
                start_new_session=True,
            )
            try:
                stopped = _follow(proc, run_dir, resume is not None, callbacks, should_stop, config)
            except BaseException:
                _interrupt(proc)
                proc.wait()
                _forget_unused(run_dir, resume)
                raise
        err = err_file.read_text(encoding="utf-8", errors="replace")
        outcome = read_json_object(Path(job.outcome)) if Path(job.outcome).exists() else {}
    words = _own_words(err) or outcome.get("error") or _last_line(err)
    if not (run_dir / CONFIG_FILE).exists():  # the child stopped before its run began
        _forget_unused(run_dir, resume)
        raise UserError(words or "Training with several processes failed to start.")
    history = History()
    history.epochs = [
        {k: v for k, v in row.items() if k not in ("kind", "batch", "batches")}
        for row in read_metrics(run_dir)
        if row["kind"] == "epoch"
    ]
    state = read_json_object(run_dir / STATE_FILE)
    history.status = state.get("status", "crashed")
    history.reason = state.get("reason", "")
    history.message = state.get("message", "")
    best = state.get("best") or {}
    history.monitor, history.best_value, history.best_epoch = (
        best.get("monitor", ""),
        best.get("value"),
        best.get("epoch"),
    )
    if proc.returncode != 0 and not stopped:
        history.status, history.reason = "crashed", "error"
        history.error = UserError(words or f"Training stopped with exit code {proc.returncode}.")
    for callback in callbacks:
        if history.error is not None and hasattr(callback, "on_exception"):
            callback.on_exception(history.error)
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(
                {
                    "status": history.status,
                    "reason": history.reason,
                    "message": history.message,
                    "epochs_done": len(history.epochs),
                    "monitor": history.monitor,
                    "best_epoch": history.best_epoch,
                    "best_value": history.best_value,
                    "run_dir": str(run_dir),
                }
            )
    reports = {}
    if history.error is None and history.status == "finished":
        for split in ("val", "test"):
            if len(data.splits[split].y):
                reports[split] = evaluate_run(project, run_dir, split=split, data=data)
    config_saved = read_json_object(run_dir / CONFIG_FILE)
    return TrainingResult(
        run_dir,
        history,
        config_saved.get("precision_label", ""),
        config_saved.get("device", ""),
        reports,
        data,
    )


def _forget_unused(run_dir: Path, resume) -> None:
    """Remove the run folder made for the child when the child never used it."""
    if resume is None:
        try:
            run_dir.rmdir()  # only when empty
        except OSError:
            pass


def _follow(proc, run_dir: Path, resume: bool, callbacks, should_stop, config) -> bool:
    """Pass the run's new metrics rows to the callbacks until the child ends; whether it was stopped."""
    from cnnstudio.core.runs import CONFIG_FILE, read_json_object, read_metrics

    seen, begun, stopped = set(), False, False
    while True:
        done = proc.poll() is not None
        if not begun and (run_dir / CONFIG_FILE).exists():
            saved = read_json_object(run_dir / CONFIG_FILE)
            images = saved.get("images") or {}
            _call(
                callbacks,
                "on_train_begin",
                {
                    "epochs": (saved.get("train") or {}).get("epochs", config.epochs),
                    "initial_epoch": len([r for r in read_metrics(run_dir) if r["kind"] == "epoch"]),
                    "train_images": images.get("train", 0),
                    "val_images": images.get("val", 0),
                    "device": saved.get("device", ""),
                    "precision": saved.get("precision_label", ""),
                    "run_dir": str(run_dir),
                },
            )
            begun = True
            seen = {(r["kind"], r["epoch"], r["batch"]) for r in read_metrics(run_dir)} if resume else set()
        if begun:
            for row in read_metrics(run_dir):
                key = (row["kind"], row["epoch"], row["batch"])
                if key in seen:
                    continue
                seen.add(key)
                logs = {k: v for k, v in row.items() if k != "kind"}
                if row["kind"] == "batch":
                    _call(callbacks, "on_batch_end", row["batch"], logs)
                else:
                    _call(callbacks, "on_epoch_end", row["epoch"], logs)
        if done:
            return stopped
        if not stopped and should_stop is not None and should_stop():
            _interrupt(proc)
            stopped = True
        time.sleep(POLL_SECONDS)


def _call(callbacks, name: str, *args) -> None:
    for callback in callbacks:
        method = getattr(callback, name, None)
        if method is not None:
            method(*args)


def _interrupt(proc) -> None:
    """Ctrl+C for the child and every process it started."""
    if proc.poll() is None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.terminate()
        except (ProcessLookupError, PermissionError):
            pass


def _own_words(err: str) -> str:
    """The last message a training process wrote about why it stopped."""
    for line in reversed((err or "").splitlines()):
        if line.startswith(ERROR_PREFIX):
            return line.split(":", 1)[1].strip()
    return ""


def _last_line(err: str) -> str:
    lines = [line.strip() for line in (err or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
