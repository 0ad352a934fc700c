"""Decode every picture of an index once, to find the files that cannot be used and to learn sizes.

Every file is decoded in full, at full size: JPEG draft mode is not used here. Draft mode would
still read all of the compressed data, but it skips work that can reveal damage, and finding
cut-off and corrupted files is the point of the check.

Why worker processes for big checks: decoding a small picture is mostly Python work in Pillow's
file readers (about 60% for a 32x32 JPEG, measured), which holds the GIL, so threads gave no
speed-up at all (0.9x with 2 threads). From PROCESS_THRESHOLD files on, the check runs in worker
processes (started with "spawn"; a frozen app must call multiprocessing.freeze_support()); below it,
in threads, where Pillow's C decoder runs in parallel for larger pictures and nothing needs starting.
"""

from __future__ import annotations

from functools import partial

from PIL import Image

from cnnstudio.core.dataset.formats import IMAGE_EXTENSIONS, extension
from cnnstudio.core.dataset.index import DatasetIndex, Sample
from cnnstudio.core.dataset.parallel import Progress, ShouldStop, default_workers, map_chunks
from cnnstudio.core.dataset.probe import init_worker, probe_files

# Starting worker processes costs about 0.3 s; below this many files threads finish sooner.
PROCESS_THRESHOLD = 5000


def check_images(
    index: DatasetIndex,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    processes: bool | None = None,
) -> DatasetIndex:
    """Decode each picture; set `problem` (None when usable), `width` and `height` on its sample.

    Changes `index` in place and returns it. Files whose kind was already refused when listing
    (for example .heic) are not opened. When `should_stop()` turns true the check ends early and
    the samples not reached yet keep what they had. `processes`: None chooses by the number of files
    (see PROCESS_THRESHOLD); True or False forces worker processes or threads.
    """
    todo: list[Sample] = [s for s in index.samples if extension(s.path) in IMAGE_EXTENSIONS]
    if not todo:
        return index
    workers = workers or default_workers()
    if processes is None:
        processes = workers > 1 and len(todo) >= PROCESS_THRESHOLD
    paths = [s.path for s in todo]
    for start, results in map_chunks(
        probe_files,
        paths,
        workers=workers,
        progress=progress,
        should_stop=should_stop,
        processes=processes,
        initializer=partial(init_worker, Image.MAX_IMAGE_PIXELS) if processes else None,
    ):
        for sample, (problem, width, height) in zip(todo[start : start + len(results)], results, strict=True):
            sample.problem = problem
            sample.width = width if problem is None else None
            sample.height = height if problem is None else None
    return index
