"""Work the Evaluate section runs in workers (Qt-free; imports torch lazily).

- `load_or_evaluate`: a run's saved evaluation of a split when it is up to date, else a new one.
- `model_stamp`: the identity of what an evaluation uses (the weights and the calibration).
- `ModelCache`: a run's model, loaded once, for Grad-CAM.
- `grad_cam_overlay`: the Grad-CAM heat map of one picture, laid over the picture at its own size.
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
    from cnnstudio.core.pipeline import evaluate_run

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


def _resize(heat: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if heat.shape == (height, width):
        return heat.astype(np.float32)
    image = Image.fromarray(np.ascontiguousarray(heat, dtype=np.float32), mode="F")
    return np.asarray(image.resize((max(1, width), max(1, height)), Image.Resampling.BILINEAR))


def heat_on_picture(heat: np.ndarray, fit: str, width: int, height: int) -> np.ndarray:
    """Map a heat map over the model's input back onto the picture it came from (height x width).

    The input is the picture stretched, centre-cropped or padded (core.dataset.decode_image), so the
    map is resized, placed over the kept centre (crop: the rest had no say, 0), or cut out of the
    padding (pad).
    """
    in_h, in_w = heat.shape
    if fit == "crop":
        scale = max(in_w / width, in_h / height)
        box_w, box_h = in_w / scale, in_h / scale
        left, top = round((width - box_w) / 2), round((height - box_h) / 2)
        out = np.zeros((height, width), np.float32)
        inner = _resize(heat, max(1, round(box_w)), max(1, round(box_h)))
        h, w = min(inner.shape[0], height - top), min(inner.shape[1], width - left)
        out[top : top + h, left : left + w] = inner[:h, :w]
        return out
    if fit == "pad":
        scale = min(in_w / width, in_h / height)
        new_w, new_h = min(in_w, max(1, round(width * scale))), min(in_h, max(1, round(height * scale)))
        x0, y0 = (in_w - new_w) // 2, (in_h - new_h) // 2
        heat = heat[y0 : y0 + new_h, x0 : x0 + new_w]
    return _resize(heat, width, height)


def grad_cam_overlay(cache: ModelCache, run_dir: Path, path: str, class_index: int) -> np.ndarray:
    """(H, W, 3) uint8: the picture at its own size with the Grad-CAM map of `class_index` laid over it.

    HiResCAM (core.evaluate.saliency): with a pooled head it equals Grad-CAM; with a Flatten + Dense
    head plain Grad-CAM can come out blank, HiResCAM does not.
    """
    import torch

    from cnnstudio.core.dataset import decode_image
    from cnnstudio.core.evaluate import grad_cam

    loaded = cache.get(run_dir)
    prep = loaded.preprocessing
    picture = read_picture(path)
    x = decode_image(path, prep.height, prep.width, prep.num_channels, prep.fit)
    normalized = prep.normalize(torch.from_numpy(x)[None])[0]
    with cache.busy:
        heat = grad_cam(loaded.model, normalized, class_index, method="hirescam")
    height, width = picture.shape[:2]
    return blend_heat(picture, heat_on_picture(heat, prep.fit, width, height))


HEAT_WEIGHT = 0.6  # the colours' share; the picture is shown in grey under them


def blend_heat(picture: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the heat colours over the picture in grey, scaled so the strongest spot is red.

    The picture's own colours would mix with the scale's (red over a dark digit looked brown, over a
    white one pink), so it is shown in grey; and the map is scaled to its own peak after resizing, so
    the scale under the picture (`scale_strip`) reads the same as the picture.
    """
    from cnnstudio.core.evaluate.saliency import heat_colors

    heat = np.asarray(heat, dtype=np.float32)
    peak = float(heat.max()) if heat.size else 0.0
    heat = heat / peak if peak > 0 else heat
    grey = np.asarray(picture, dtype=np.float32)[..., :3].mean(axis=-1, keepdims=True)
    mixed = (1 - HEAT_WEIGHT) * grey + HEAT_WEIGHT * heat_colors(heat).astype(np.float32)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def scale_strip(width: int = 256, height: int = 12) -> np.ndarray:
    """(height, width, 3) uint8: the colour scale from least (left) to most (right), blended over mid
    grey as in the picture, for the legend under it."""
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    return blend_heat(np.full((height, width, 3), 128, np.uint8), ramp * 0.999 + 0.001)
