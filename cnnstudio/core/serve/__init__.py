"""The local prediction service: `cnnstudio serve MODEL`, and the Predict section's "Use from other
programs".

An HTTP service (FastAPI on uvicorn) answers POST /predict with the same JSON items as
`cnnstudio predict --json`: decoding, calibration and the unknown flag are the Predictor's own
(core.export.Predictor). Requests that arrive together are batched by one thread that owns the
model (batcher.py). No Qt here; FastAPI is imported only when a service starts.
"""

from __future__ import annotations

from cnnstudio.core.serve.options import (
    DEFAULT_HOST,
    DEFAULT_MAX_BYTES,
    DEFAULT_PORT,
    ServeOptions,
    exposure_lines,
)

__all__ = ["DEFAULT_HOST", "DEFAULT_MAX_BYTES", "DEFAULT_PORT", "ServeOptions", "exposure_lines"]
