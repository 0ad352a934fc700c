"""Work the Evaluate section runs in workers (Qt-free; imports torch lazily).

- `load_or_evaluate`: a run's saved evaluation of a split when it is up to date, else a new one.
- `model_stamp`: the identity of what an evaluation uses (the weights and the calibration).
- `ModelCache`: a run's model, loaded once, for Grad-CAM.
- `grad_cam_overlay`: the Grad-CAM heat map of one picture, laid over the picture at its own size
  (core.evaluate.saliency's heat_on_picture and overlay_heatmap).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.runs import saved_evaluation, weights_stamp

if TYPE_CHECKING:
    from cnnstudio.core.evaluate import EvaluationReport
    from cnnstudio.core.project import Project

MAX_SIDE = 2400  # the overlay of a big photo is made at about screen size, like the image viewer's
CALIBRATION_FILE = "calibration.json"  # what core's Calibration.save writes in a run folder


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def model_stamp(run_dir: Path) -> tuple | None:
    """What an evaluation of `run_dir` depends on: its weights and its calibration. Training fits the
    calibration after the last epoch, so an evaluation made before that is out of date once it exists."""
    weights = weights_stamp(run_dir)
    return None if weights is None else (weights, _file_stamp(run_dir / CALIBRATION_FILE))


def _older_than_calibration(saved: Path, run_dir: Path) -> bool:
    calibration = _file_stamp(run_dir / CALIBRATION_FILE)
    saved_stamp = _file_stamp(saved)
    return calibration is not None and saved_stamp is not None and saved_stamp[0] < calibration[0]


def load_or_evaluate(
    project: Project,
    run_dir: Path,
    split: str | None,
    folder: Path | None = None,
    *,
    force: bool = False,
    progress=None,
) -> EvaluationReport:
    """The report of `run_dir` on a split (read from the run when up to date) or on another folder."""
    from cnnstudio.core.evaluate import EvaluationReport
    from cnnstudio.core.pipeline import evaluate_run, recalibrate_if_outdated

    recalibrate_if_outdated(project, run_dir, progress=progress)
    if folder is None and split is not None and not force:
        saved = saved_evaluation(run_dir, split)
        if saved is not None and not _older_than_calibration(saved, run_dir):
            try:
                return EvaluationReport.load(saved)
            except Exception:  # noqa: BLE001 - a damaged file: evaluate again
                pass
    if folder is not None:
        return evaluate_run(project, run_dir, folder=folder, progress=progress)
    before = weights_stamp(run_dir)
    report = evaluate_run(project, run_dir, split=split or "val", progress=progress)
    if before is not None and weights_stamp(run_dir) != before:
        # Training wrote a new best model while this one was evaluated: date the saved evaluation
        # to the weights it belongs to, so it is not taken for the new model's later.
        saved = run_dir / f"evaluation_{split or 'val'}.json"
        if saved.exists():
            os.utime(saved, ns=(before[0], before[0]))
    return report


@dataclass
class LoadedRun:
    model: Any  # torch.nn.Module, eval mode, CPU
    preprocessing: Any  # core.spec.Preprocessing


class ModelCache:
    """One run's model at a time, loaded on first use (from a worker thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # One Grad-CAM at a time: it hooks the model's layers, so two at once would mix their maps.
        self.busy = threading.Lock()
        self._key: Path | None = None
        self._value: LoadedRun | None = None

    def get(self, run_dir: Path) -> LoadedRun:
        with self._lock:
            if self._key != run_dir or self._value is None:
                from cnnstudio.core.spec import Preprocessing
                from cnnstudio.core.train import load_run_weights

                model, _spec, prep, _names = load_run_weights(run_dir, which="best")
                prep = Preprocessing.from_dict(prep) if isinstance(prep, dict) else prep
                self._key, self._value = run_dir, LoadedRun(model, prep)
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._key, self._value = None, None


def read_picture(path: str, max_side: int = MAX_SIDE) -> np.ndarray:
    """The picture as (H, W, 3) uint8 RGB, EXIF orientation applied, as the viewer shows it."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def grad_cam_overlay(cache: ModelCache, run_dir: Path, path: str, class_index: int) -> np.ndarray:
    """(H, W, 3) uint8: the picture at its own size with the Grad-CAM map of `class_index` laid over it.

    HiResCAM (core.evaluate.saliency): with a pooled head it equals Grad-CAM; with a Flatten + Dense
    head plain Grad-CAM can come out blank, HiResCAM does not.
    """
    import torch

    from cnnstudio.core.dataset import decode_image
    from cnnstudio.core.evaluate.saliency import grad_cam, heat_on_picture, overlay_heatmap

    loaded = cache.get(run_dir)
    prep = loaded.preprocessing
    picture = read_picture(path)
    x = decode_image(path, prep.height, prep.width, prep.num_channels, prep.fit)
    normalized = prep.normalize(torch.from_numpy(x)[None])[0]
    with cache.busy:
        heat = grad_cam(loaded.model, normalized, class_index, method="hirescam")
    height, width = picture.shape[:2]
    return overlay_heatmap(picture, heat_on_picture(heat, prep.fit, width, height))


def scale_strip(width: int = 256, height: int = 12) -> np.ndarray:
    """(height, width, 3) uint8: the colour scale from least (left) to most (right), blended over mid
    grey as in the picture, for the legend under it."""
    from cnnstudio.core.evaluate.saliency import overlay_heatmap

    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    return overlay_heatmap(np.full((height, width, 3), 128, np.uint8), ramp * 0.999 + 0.001)
