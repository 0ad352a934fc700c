"""Run an exported module over uint8 pictures as its users do: normalise from the stored metadata.

Shared by the verification of every export (core/export/verify.py) and the torch.export loader
(core/export/exported_program.py), so neither imports the other for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cnnstudio.core.spec import Preprocessing

BATCH = 256


def normalize_numpy(X_uint8: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """((x * scale) - mean) / std in float32, as a programmer does it from the metadata alone."""
    x = np.asarray(X_uint8, dtype=np.float32) * np.float32(preprocessing.scale)
    mean = np.asarray(preprocessing.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(preprocessing.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - mean) / std


def joined(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
    return np.concatenate(parts) if parts else empty


def module_outputs(module, prep: Preprocessing, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, unknown scores or None) of an exported module that takes normalised images and
    returns probabilities, or (probabilities, unknown_score) when it carries the unknown score."""
    import torch

    probs, scores = [], []
    with_unknown = False
    with torch.inference_mode():
        for i in range(0, len(X_uint8), BATCH):
            x = torch.from_numpy(normalize_numpy(X_uint8[i : i + BATCH], prep))
            out = module(x)
            if isinstance(out, tuple | list):
                with_unknown = True
                scores.append(out[1].float().numpy())
                out = out[0]
            probs.append(out.float().numpy())
    return (
        joined(probs, np.zeros((0, 0), np.float32)),
        joined(scores, np.zeros(0, np.float32)) if with_unknown else None,
    )
