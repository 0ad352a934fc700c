"""A run's folder: runs/<YYYYmmdd-HHMMSS>-<label>/ with config.json, state.json and metrics.csv
(and the checkpoint files named here, written by core/train/checkpoints.py).

Every file is written whole and atomically (temp file + os.replace), so a kill at any moment
leaves the previous or the new version, never half a file. metrics.csv is rewritten at each
checkpoint with exactly the work the checkpoint holds, so after a kill it never lists epochs that
a resume would do again.

state.json: {"status": "running" | "finished" | "stopped" | "crashed", "reason", "epochs_done",
"epochs", "best": {monitor, value, epoch}, "message", "pid", "host", "updated"}. A run killed hard
stays "running": when `pid` is no longer alive on `host`, a reader can tell it was killed
(`training_alive`). A run that another computer trains (a shared project folder) cannot be asked;
it counts as alive until its state.json has been silent for a day (it is written every epoch).
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import socket
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic import write_bytes_atomic, write_json_atomic

CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
METRICS_FILE = "metrics.csv"
LAST_WEIGHTS = "last.safetensors"  # the weights at the last checkpoint
BEST_WEIGHTS = "best.safetensors"  # the weights of the best epoch (by the config's monitor)
WEIGHT_FILES = (BEST_WEIGHTS, LAST_WEIGHTS)  # a run "has weights" when either is there
TRAIN_STATE = "last_optimizer.pt"
PREV_TRAIN_STATE = "last_optimizer.prev.pt"
OTHER_COMPUTER_SILENCE = 24 * 3600  # seconds without a word before another computer's run is "interrupted"
METRIC_COLUMNS = (
    "kind",
    "epoch",
    "batch",
    "batches",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "seconds",
    "images_per_s",
)
_INT_COLUMNS = {"epoch", "batch", "batches"}


def _slug(label: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label.strip()).strip("-.")
    return slug[:48] or "run"


def new_run_dir(runs_dir: Path | str, label: str = "run") -> Path:
    """Create and return runs_dir/<YYYYmmdd-HHMMSS>-<label>/, unique even within the same second."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(label)}"
    for n in range(1, 10_000):
        folder = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"cannot make a new run folder in {runs_dir}")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "numpy", "cnnstudio"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_json_object(path: Path) -> dict[str, Any]:
    """A run file for display (config.json, state.json, evaluation.json): {} when it is missing,
    damaged or not an object, so one broken run never hides the others."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pid_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a run or trial that says "running" may be an orphan)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's live process
        return True
    except OSError:
        return False
    return True


def other_computer(state: dict[str, Any]) -> str:
    """The computer that wrote this state.json when it is not this one, else ""."""
    host = state.get("host")
    return str(host) if host and host != socket.gethostname() else ""


def training_alive(state: dict[str, Any], *, own: bool = True) -> bool:
    """Whether the process that wrote this "running" state.json still trains the run. `own`: the
    answer when that process is this one (only the caller knows which runs it trains now)."""
    if other_computer(state):
        try:
            silent = time.time() - float(state.get("updated") or 0)
        except (TypeError, ValueError):
            return False
        return silent < OTHER_COMPUTER_SILENCE
    try:
        pid = int(state.get("pid") or 0)
    except (TypeError, ValueError):
        return False
    return own if pid == os.getpid() else pid_alive(pid)


def write_config(run_dir: Path, data: dict[str, Any]) -> None:
    write_json_atomic(Path(run_dir) / CONFIG_FILE, {"schema_version": 1, **data})


def write_state(run_dir: Path, status: str, **fields: Any) -> None:
    state = {
        "schema_version": 1,
        "status": status,
        **fields,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "updated": time.time(),
    }
    write_json_atomic(Path(run_dir) / STATE_FILE, state)


def write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in METRIC_COLUMNS})
    write_bytes_atomic(Path(run_dir) / METRICS_FILE, buffer.getvalue().encode("utf-8"))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of metrics.csv with numbers as numbers and empty cells as None."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {"kind": raw.get("kind")}
            for key in METRIC_COLUMNS[1:]:
                value = raw.get(key)
                if value in (None, ""):
                    row[key] = None
                else:
                    row[key] = int(value) if key in _INT_COLUMNS else float(value)
            rows.append(row)
    return rows


def note_resume(run_dir: Path, entry: dict[str, Any]) -> None:
    """Append `entry` to config.json's "resumes" (a resumed run keeps the rest of its config, but
    for the number of epochs, which a run trained further changes)."""
    saved = read_json(Path(run_dir) / CONFIG_FILE)
    saved.pop("schema_version", None)
    saved["resumes"] = [*saved.get("resumes", []), entry]
    if "epochs" in entry and isinstance(saved.get("train"), dict):
        saved["train"]["epochs"] = entry["epochs"]
    write_config(run_dir, saved)


def metrics_at_checkpoint(
    run_dir: Path, epoch: int, batch: int, epoch_logs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The metrics rows that match a checkpoint at (epoch, batch).

    metrics.csv is written after the checkpoint, so it may lag it but never lead it: its batch
    rows are kept up to the checkpoint, and the epoch rows come from the checkpoint's own logs.
    """
    rows = [
        r for r in read_metrics(run_dir) if r["kind"] == "batch" and (r["epoch"], r["batch"]) < (epoch, batch)
    ]
    rows += [{"kind": "epoch", **e} for e in epoch_logs]
    return sorted(rows, key=lambda r: (r["epoch"], r["kind"] == "epoch", r.get("batch") or 0))
