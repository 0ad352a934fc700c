"""Datasets: list a source into a DatasetIndex, find unusable files, split, decode and cache pictures.

No torch here. The names below are imported on first use (PEP 562): `cnnstudio index --quick`
needs only the listing, splitting and health modules (standard library only), and importing numpy
and Pillow up front cost 0.12 s of its 0.6 s budget for 100,000 files (benchmarks/bench_index.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstudio.core.dataset.cache import DecodeCache, DecodeStopped
    from cnnstudio.core.dataset.check import check_images
    from cnnstudio.core.dataset.decode import decode_image
    from cnnstudio.core.dataset.formats import IMAGE_EXTENSIONS
    from cnnstudio.core.dataset.health import HealthSummary, health_summary
    from cnnstudio.core.dataset.index import DatasetIndex, Sample
    from cnnstudio.core.dataset.problems import ImageProblem
    from cnnstudio.core.dataset.scan import scan_source
    from cnnstudio.core.dataset.split import assign_splits

_HOMES = {
    "DecodeCache": "cache",
    "DecodeStopped": "cache",
    "check_images": "check",
    "decode_image": "decode",
    "IMAGE_EXTENSIONS": "formats",
    "HealthSummary": "health",
    "health_summary": "health",
    "DatasetIndex": "index",
    "Sample": "index",
    "ImageProblem": "problems",
    "scan_source": "scan",
    "assign_splits": "split",
}

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetIndex",
    "DecodeCache",
    "DecodeStopped",
    "HealthSummary",
    "ImageProblem",
    "Sample",
    "assign_splits",
    "check_images",
    "decode_image",
    "health_summary",
    "scan_source",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
