"""Datasets: list a source into a DatasetIndex, find unusable files, split, decode and cache pictures.

No torch here. The names below are imported on first use (PEP 562): `cnnstudio index --quick`
needs only the listing, splitting and health modules (standard library only), and importing numpy
and Pillow up front cost 0.12 s of its 0.6 s budget for 100,000 files (benchmarks/bench_index.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.core.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
