"""Predict pictures and folders with a trained model, preprocessed exactly as in training.

Decoding (core.dataset.decode_image, the app's one preprocessing) runs in worker threads, in
chunks, while the calling thread runs the model on full batches of what has been decoded so far:
Pillow releases the GIL while it decodes and resizes, so the two overlap. The probabilities come
from core.evaluate.predict_probabilities, the function every export is verified against.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from cnnstudio.core.dataset.parallel import default_workers, map_chunks
from cnnstudio.core.dataset.problems import ImageProblem, unexpected_decode_reason
from cnnstudio.core.errors import UserError
from cnnstudio.core.export.inputs import collect_images
from cnnstudio.core.export.loaded import LoadedModel, load_model
from cnnstudio.core.export.results import Prediction, PredictionProblem, PredictionResult
from cnnstudio.core.trust.verdict import verdict

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


def _decode_chunk(
    paths: list[str], height: int, width: int, channels: int, fit: str
) -> list[np.ndarray | str]:
    """Each picture as uint8 (C, H, W), or the reason it cannot be used."""
    from cnnstudio.core.dataset import decode_image

    out: list[np.ndarray | str] = []
    for path in paths:
        try:
            out.append(decode_image(path, height, width, channels, fit))
        except ImageProblem as exc:
            out.append(exc.reason)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            out.append(unexpected_decode_reason(exc))
    return out


class Predictor:
    """predict(["photo.jpg", "folder/"]) -> PredictionResult, with the model's own preprocessing.

    `threshold`: a picture whose top probability is below it is labelled "unknown" (0 = never).
    `unknown_threshold`: a picture whose unknown score (core.trust) is above it is
    flagged ``unknown`` (its label stays the best class); None = the calibration's own threshold.
    Both rules are core.trust.verdict's.
    Probabilities are the calibrated ones (the model's temperature applied).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        threshold: float = 0.0,
        batch_size: int = 64,
        workers: int | None = None,
        device: str = "cpu",
        unknown_threshold: float | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise UserError(f"The confidence threshold must be between 0 and 1 (it is {threshold}).")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.loaded = loaded
        self.threshold = threshold
        self.batch_size = batch_size
        self.workers = workers or default_workers()
        self.device = device
        self.calibration = loaded.calibration
        if unknown_threshold is not None and not np.isfinite(unknown_threshold):
            raise UserError(f"The unknown threshold must be a number (it is {unknown_threshold}).")
        self.unknown_threshold = (
            unknown_threshold
            if unknown_threshold is not None
            else (self.calibration.threshold if self.calibration is not None else None)
        )

    @classmethod
    def from_source(cls, source: Path | str, *, run: str | None = None, **options) -> Predictor:
        """From a single model's .cnnmodel file, a project folder (its newest run, or `run`) or a run
        folder; `Predictor(core.models.load_model(source))` opens ensemble bundles as well."""
        return cls(load_model(source, run=run), **options)

    @property
    def class_names(self) -> list[str]:
        return self.loaded.class_names

    @property
    def has_unknown(self) -> bool:
        return self.calibration is not None and self.calibration.has_unknown

    def outputs(self, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(calibrated probabilities (N, K), unknown scores (N,) or None) of uint8 (N, C, H, W) pictures."""
        from cnnstudio.core.evaluate import predict_probabilities
        from cnnstudio.core.trust import predict_calibrated

        if self.calibration is None or not self.calibration.fitted:
            probs = predict_probabilities(
                self.loaded.model,
                X_uint8,
                self.loaded.preprocessing,
                batch_size=self.batch_size,
                device=self.device,
            )
            return probs, None
        out = predict_calibrated(
            self.loaded.model,
            X_uint8,
            self.loaded.preprocessing,
            self.calibration,
            batch_size=self.batch_size,
            device=self.device,
        )
        return out.probs, out.unknown_scores

    def probabilities(self, X_uint8: np.ndarray) -> np.ndarray:
        """(N, K) calibrated probabilities of decoded pictures, uint8 (N, C, H, W)."""
        return self.outputs(X_uint8)[0]

    def label(self, path: str, probs: np.ndarray, unknown_score: float | None = None) -> Prediction:
        v = verdict(
            probs,
            self.class_names,
            min_confidence=self.threshold,
            unknown_score=unknown_score,
            unknown_threshold=self.unknown_threshold,
        )
        return Prediction(path, v.label, v.confidence, v.top, v.unknown, v.unknown_score)

    def predict(
        self,
        inputs: list[Path | str] | Path | str,
        *,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> PredictionResult:
        """Pictures and folders (searched with their sub-folders); unusable files are listed, not fatal."""
        if isinstance(inputs, str | Path):
            inputs = [inputs]
        paths, missing = collect_images(list(inputs))
        result = self.predict_paths(paths, progress=progress, should_stop=should_stop)
        result.problems[:0] = [PredictionProblem(p, reason) for p, reason in missing]
        return result

    def predict_paths(
        self,
        paths: list[str],
        *,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> PredictionResult:
        prep = self.loaded.preprocessing
        decode = partial(
            _decode_chunk, height=prep.height, width=prep.width, channels=prep.num_channels, fit=prep.fit
        )
        probs: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        problems: dict[int, str] = {}
        pending_index: list[int] = []
        pending: list[np.ndarray] = []

        def flush() -> None:
            batch, batch_scores = self.outputs(np.stack(pending))
            probs.update(zip(pending_index, batch, strict=True))
            if batch_scores is not None:
                scores.update(zip(pending_index, batch_scores.tolist(), strict=True))
            pending_index.clear()
            pending.clear()

        # Smaller chunks than the decode cache uses: the model waits for the first full batch.
        chunk = max(1, min(self.batch_size // 2, len(paths) // (self.workers * 4) or 1))
        for start, decoded in map_chunks(
            decode, paths, workers=self.workers, progress=progress, should_stop=should_stop, chunk_size=chunk
        ):
            for offset, item in enumerate(decoded):
                if isinstance(item, str):
                    problems[start + offset] = item
                else:
                    pending_index.append(start + offset)
                    pending.append(item)
            while len(pending) >= self.batch_size:
                rest_index, rest = pending_index[self.batch_size :], pending[self.batch_size :]
                del pending_index[self.batch_size :], pending[self.batch_size :]
                flush()
                pending_index.extend(rest_index)
                pending.extend(rest)
        if pending:
            flush()
        result = PredictionResult(
            threshold=self.threshold,
            unknown_threshold=self.unknown_threshold if self.has_unknown else None,
            calibrated=self.calibration is not None and self.calibration.fitted,
        )
        for i, path in enumerate(paths):
            if i in probs:
                result.predictions.append(self.label(path, probs[i], scores.get(i)))
            elif i in problems:
                result.problems.append(PredictionProblem(path, problems[i]))
        result.stopped = len(probs) + len(problems) < len(paths)
        return result
